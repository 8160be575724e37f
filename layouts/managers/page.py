"""The whole managers' page: a header (title, language), the controls (period, filters, exports), a message place,
a summary line, the figure cards, then the trends and the breakdowns. Pure: plain data in, components out; the
figures arrive from the page's callback (first when the page loads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Final

from dash import dcc, html
from dash.development.base_component import Component

from ioc.i18n import fmt_number, t
from ioc.incidents.reports import Report
from layouts.common import language_switch, zone
from layouts.managers import ids
from layouts.managers.charts import figures
from layouts.managers.controls import controls
from layouts.managers.kpis import kpi_cards

PATH: Final = "/managers"
DATE_FORMATS: Final = {"vi": "%d/%m/%Y", "en": "%Y-%m-%d"}


def header(lang: str) -> Component:
    """Title and the language switch."""
    switch = language_switch(PATH, lang, "mgr")
    return html.Header(className="mgr-header", children=[html.H1(t("mgr.title", lang), className="mgr-title"), switch])


def problem(text: str) -> Component:
    """A message saying something is wrong (e.g. the database does not answer)."""
    return html.Div(text, className="mgr-message is-error", role="alert")


def summary_text(report: Report, lang: str) -> str:
    """One line: how many incidents, from which day to which (city time)."""
    fmt = DATE_FORMATS.get(lang, DATE_FORMATS["vi"])
    days = list(report.by_day)
    if report.since is not None and report.until is not None:
        tz = zone(report.tz)
        first = datetime.fromisoformat(report.since).astimezone(tz).date()
        last = (datetime.fromisoformat(report.until) - timedelta(microseconds=1)).astimezone(tz).date()
    elif days:
        first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    else:
        return t("mgr.kpi.none", lang)
    return t(
        "mgr.summary",
        lang,
        count=fmt_number(report.total, lang, 0),
        first=first.strftime(fmt),
        last=last.strftime(fmt),
        tz=report.tz,
    )


def graph(component_id: str, figure: dict[str, object], *, wide: bool = False) -> Component:
    """One chart in its panel."""
    return html.Div(
        className=f"mgr-chart{' mgr-chart--wide' if wide else ''}",
        children=dcc.Graph(
            id=component_id,
            figure=figure,
            config={"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]},
            className="mgr-graph",
        ),
    )


def layout(
    *,
    lang: str,
    types: Sequence[str],
    wards: Mapping[str, str],
    severities: Sequence[str],
    today: date,
    message: Component | None = None,
) -> Component:
    """The managers' page in one language, the figures empty until the page's callback fills them. `wards`: ward id
    -> name; `today`: the city's date (the last day the date picker offers)."""
    empty = figures(None, lang, wards)
    return html.Div(
        id=ids.ROOT,
        className="mgr desk",
        lang=lang,
        children=[
            dcc.Store(id=ids.LANG, data=lang),
            header(lang),
            controls(lang, types=types, wards=wards, severities=severities, today=today),
            html.Div(message, id=ids.MESSAGE, className="mgr-feedback"),
            html.P(id=ids.SUMMARY, className="mgr-summary"),
            html.Section(kpi_cards(None, lang), id=ids.KPIS, className="mgr-kpis"),
            html.H2(t("mgr.trends", lang), className="mgr-section-title"),
            html.Section(
                className="mgr-charts",
                children=[graph(ids.CHART_OPENED, empty["opened"]), graph(ids.CHART_QUALITY, empty["quality"])],
            ),
            html.H2(t("mgr.breakdown", lang), className="mgr-section-title"),
            html.Section(
                className="mgr-charts",
                children=[
                    graph(ids.CHART_TYPES, empty["types"]),
                    graph(ids.CHART_WARDS, empty["wards"]),
                    graph(ids.CHART_HOURS, empty["hours"]),
                    graph(ids.CHART_DAYS, empty["days"]),
                ],
            ),
        ],
    )
