"""The filter bar (status, type, severity, ward, period or dates, overdue only) and the queries.Filters its values
stand for: the filters are applied on the server, so the table holds only what matches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Final

from dash import dcc, html
from dash.development.base_component import Component

from ioc.city import City
from ioc.i18n import t
from ioc.incidents.model import INCIDENT_TYPES, SEVERITY_ORDER, STATUSES
from ioc.incidents.queries import Filters
from ioc.incidents.texts import label
from layouts.common import dropdown_labels, zone
from layouts.incidents import ids

PERIODS: Final[dict[str, timedelta | None]] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
    "dates": None,  # the dates picked
}
DEFAULT_PERIOD: Final = "7d"
OVERDUE_ONLY: Final = "overdue"  # the value of the "overdue only" box when ticked


def _texts(values: object, allowed: Sequence[str]) -> tuple[str, ...]:
    """The chosen values a filter may hold (anything else a browser sends is dropped)."""
    if not isinstance(values, list | tuple):
        return ()
    return tuple(v for v in values if isinstance(v, str) and v in allowed)


def _day(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def filters_of(
    *,
    city: City,
    now: datetime,
    statuses: object = None,
    types: object = None,
    severities: object = None,
    wards: object = None,
    period: object = DEFAULT_PERIOD,
    start: object = None,
    end: object = None,
    overdue: object = None,
) -> Filters:
    """The Filters the bar's values stand for. A period counts back from `now`; picked dates are whole days of the
    city's calendar (the end day included)."""
    since = until = None
    if period == "dates":
        tz = zone(city.timezone)
        first, last = _day(start), _day(end)
        if first is not None:
            since = datetime.combine(first, time(), tz)
        if last is not None:
            until = datetime.combine(last + timedelta(days=1), time(), tz)
    else:
        back = PERIODS.get(period if isinstance(period, str) else DEFAULT_PERIOD, PERIODS[DEFAULT_PERIOD])
        since = now - back if back is not None else None
    return Filters(
        statuses=_texts(statuses, [s.value for s in STATUSES]),
        types=_texts(types, INCIDENT_TYPES),
        severities=_texts(severities, SEVERITY_ORDER),
        wards=_texts(wards, list(city.wards)),
        since=since,
        until=until,
        overdue_only=isinstance(overdue, list) and OVERDUE_ONLY in overdue,
    )


def _choice(label_text: str, control: Component) -> Component:
    return html.Label([html.Span(label_text, className="inc-field-label"), control], className="inc-field")


def _multi(component_id: str, options: list[dict[str, str]], lang: str) -> Component:
    return dcc.Dropdown(
        labels=dropdown_labels(lang),
        id=component_id,
        options=options,
        value=[],
        multi=True,
        placeholder=t("incidents.filter.any", lang),
        className="inc-select",
    )


def filter_bar(city: City, lang: str) -> Component:
    """The filters above the table, every one empty (any) but the period (the last 7 days)."""
    statuses = [{"label": label("status", s.value, lang), "value": s.value} for s in STATUSES]
    types = [{"label": label("type", k, lang), "value": k} for k in INCIDENT_TYPES]
    severities = [{"label": label("severity", s, lang), "value": s} for s in reversed(SEVERITY_ORDER)]
    wards = [{"label": w.name, "value": w.id} for w in city.wards.values()]
    periods = [{"label": t(f"incidents.period.{p}", lang), "value": p} for p in PERIODS]
    return html.Div(
        className="inc-filters",
        children=[
            _choice(t("incidents.filter.status", lang), _multi(ids.STATUS, statuses, lang)),
            _choice(t("incidents.filter.type", lang), _multi(ids.TYPE, types, lang)),
            _choice(t("incidents.filter.severity", lang), _multi(ids.SEVERITY, severities, lang)),
            _choice(t("incidents.filter.ward", lang), _multi(ids.WARD, wards, lang)),
            _choice(
                t("incidents.filter.period", lang),
                dcc.Dropdown(
                    labels=dropdown_labels(lang),
                    id=ids.PERIOD,
                    options=periods,
                    value=DEFAULT_PERIOD,
                    clearable=False,
                    searchable=False,
                    className="inc-select inc-select--period",
                ),
            ),
            _choice(
                t("incidents.filter.dates", lang),
                dcc.DatePickerRange(
                    id=ids.DATES,
                    display_format="DD/MM/YYYY" if lang == "vi" else "YYYY-MM-DD",
                    first_day_of_week=1,
                    start_date_placeholder_text=t("incidents.filter.from", lang),
                    end_date_placeholder_text=t("incidents.filter.to", lang),
                    clearable=True,
                    className="inc-dates",
                ),
            ),
            dcc.Checklist(
                id=ids.OVERDUE,
                options=[{"label": t("incidents.filter.overdue", lang), "value": OVERDUE_ONLY}],
                value=[],
                className="inc-check",
            ),
        ],
    )
