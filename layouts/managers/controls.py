"""The controls: the period (the last 7, 30, 90 or 365 days, or chosen dates), the filters (type, ward, severity;
none chosen means all) and the export buttons with their download."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Final

from dash import dcc, html
from dash.development.base_component import Component

from ioc.i18n import t
from ioc.incidents.reports import DEFAULT_DAYS, PERIOD_DAYS
from ioc.incidents.texts import label
from layouts.common import dropdown_labels
from layouts.managers import ids

DATES: Final = "dates"  # the period value that takes the date picker's days
DEFAULT_PERIOD: Final = str(DEFAULT_DAYS)


def period_options(lang: str) -> list[dict[str, str]]:
    """The period choices: each number of days, then the chosen dates."""
    options = [{"label": t("mgr.period.days", lang, days=days), "value": str(days)} for days in PERIOD_DAYS]
    return [*options, {"label": t("mgr.period.dates", lang), "value": DATES}]


def _field(text: str, control: Component, *, wide: bool = False) -> Component:
    return html.Label(
        [html.Span(text, className="mgr-field-label"), control],
        className=f"mgr-field{' mgr-field--wide' if wide else ''}",
    )


def _choice(component_id: str, options: list[dict[str, str]], lang: str) -> Component:
    return dcc.Dropdown(
        id=component_id,
        options=options,
        value=[],
        multi=True,
        placeholder=t("mgr.filter.all", lang),
        labels=dropdown_labels(lang),
        className="mgr-select",
    )


def controls(
    lang: str, *, types: Sequence[str], wards: Mapping[str, str], severities: Sequence[str], today: date
) -> Component:
    """The period and filter controls (`wards`: id -> name), and the export buttons."""
    period = html.Div(
        className="mgr-period",
        children=[
            dcc.RadioItems(
                id=ids.PERIOD,
                options=period_options(lang),
                value=DEFAULT_PERIOD,
                inline=True,
                className="mgr-radio",
                inputClassName="mgr-radio-input",
            ),
            dcc.DatePickerRange(
                id=ids.DATES,
                min_date_allowed=date(2000, 1, 1).isoformat(),
                max_date_allowed=today.isoformat(),
                initial_visible_month=today.isoformat(),
                display_format="DD/MM/YYYY" if lang == "vi" else "YYYY-MM-DD",
                first_day_of_week=1,
                className="mgr-dates",
                start_date_placeholder_text=t("common.date.start", lang),
                end_date_placeholder_text=t("common.date.end", lang),
                clearable=True,
            ),
            html.Span(t("mgr.period.dates_hint", lang), className="mgr-hint"),
        ],
    )
    type_options = [{"label": label("type", v, lang), "value": v} for v in types]
    ward_options = [{"label": name, "value": ward} for ward, name in wards.items()]
    severity_options = [{"label": label("severity", v, lang), "value": v} for v in severities]
    export = html.Div(
        className="mgr-export",
        children=[
            html.Span(t("mgr.export", lang), className="mgr-field-label"),
            html.Div(
                className="mgr-export-buttons",
                children=[
                    html.Button(t("mgr.export.csv", lang), id=ids.EXPORT_CSV, n_clicks=0, className="mgr-button"),
                    html.Button(t("mgr.export.xlsx", lang), id=ids.EXPORT_XLSX, n_clicks=0, className="mgr-button"),
                ],
            ),
            html.Div(id=ids.EXPORT_MESSAGE, className="mgr-export-message", role="status"),
            dcc.Download(id=ids.DOWNLOAD),
        ],
    )
    return html.Section(
        className="mgr-controls",
        children=[
            _field(t("mgr.period", lang), period, wide=True),
            html.Div(
                className="mgr-filters",
                children=[
                    _field(t("mgr.filter.type", lang), _choice(ids.TYPES, type_options, lang)),
                    _field(t("mgr.filter.ward", lang), _choice(ids.WARDS, ward_options, lang)),
                    _field(t("mgr.filter.severity", lang), _choice(ids.SEVERITIES, severity_options, lang)),
                    export,
                ],
            ),
        ],
    )
