"""The managers' page's callbacks: the figures for the chosen period and filters (guarded REVIEW_INCIDENTS; also run
when the page loads), and the CSV or Excel export of the same incidents with their audit rows (guarded
EXPORT_REPORTS) sent to the browser through dcc.Download. Each unpacks the controls, makes one call into
ioc.incidents.reports and hands the result to the layout builders; a database that does not answer gives a message
on the page, not an error."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final

import dash
from dash import Input, Output, State, callback
from dash.exceptions import PreventUpdate

from callbacks import chosen_lang, resources
from callbacks.auth import client_address, guarded, principal
from ioc.city import City
from ioc.db import Database
from ioc.errors import DatabaseError
from ioc.i18n import Lang, t
from ioc.identity.roles import Permission
from ioc.incidents.model import INCIDENT_TYPES, SEVERITY_ORDER
from ioc.incidents.queries import Filters
from ioc.incidents.reports import (
    DEFAULT_DAYS,
    MEDIA_TYPES,
    PERIOD_DAYS,
    Format,
    Report,
    export_bytes,
    page_filters,
    record_export,
    report,
)
from layouts.managers import ids
from layouts.managers.charts import figures
from layouts.managers.controls import DATES
from layouts.managers.kpis import kpi_cards
from layouts.managers.page import problem, summary_text

log = logging.getLogger(__name__)

PERMISSION: Final = Permission.REVIEW_INCIDENTS
EXPORT_PERMISSION: Final = Permission.EXPORT_REPORTS

FIGURES: Final = {
    "opened": ids.CHART_OPENED,
    "quality": ids.CHART_QUALITY,
    "types": ids.CHART_TYPES,
    "wards": ids.CHART_WARDS,
    "hours": ids.CHART_HOURS,
    "days": ids.CHART_DAYS,
}
OUTPUTS: Final = {
    "message": Output(ids.MESSAGE, "children"),
    "summary": Output(ids.SUMMARY, "children"),
    "kpis": Output(ids.KPIS, "children"),
    **{name: Output(component, "figure") for name, component in FIGURES.items()},
}
CONTROLS: Final = {
    "period": (ids.PERIOD, "value"),
    "start": (ids.DATES, "start_date"),
    "end": (ids.DATES, "end_date"),
    "types": (ids.TYPES, "value"),
    "wards": (ids.WARDS, "value"),
    "severities": (ids.SEVERITIES, "value"),
}
EXPORT_OUTPUTS: Final = {"download": Output(ids.DOWNLOAD, "data"), "message": Output(ids.EXPORT_MESSAGE, "children")}
EXPORT_BUTTONS: Final[dict[str, Format]] = {ids.EXPORT_CSV: "csv", ids.EXPORT_XLSX: "xlsx"}


def _date(value: object) -> date | None:
    """A date picker's value ('2026-03-10', maybe with a time after it), else None."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _chosen(values: object, known: Sequence[str] | Mapping[str, Any]) -> list[str]:
    """The values of a multiple choice that the page offers (anything else posted is ignored)."""
    if not isinstance(values, list):
        return []
    return [v for v in values if isinstance(v, str) and v in known]


def filters_of(controls: Mapping[str, Any], *, city: City) -> Filters:
    """The Filters the page's controls describe: the last N days (one of the choices), or the chosen dates."""
    period = controls.get("period")
    days: int | None = DEFAULT_DAYS
    if period == DATES:
        days = None
    elif isinstance(period, str) and period.isdigit() and int(period) in PERIOD_DAYS:
        days = int(period)
    return page_filters(
        tz=city.timezone,
        days=days,
        first=_date(controls.get("start")),
        last=_date(controls.get("end")),
        types=_chosen(controls.get("types"), INCIDENT_TYPES),
        wards=_chosen(controls.get("wards"), city.wards),
        severities=_chosen(controls.get("severities"), SEVERITY_ORDER),
    )


def ward_names(city: City) -> dict[str, str]:
    """Ward id -> name."""
    return {ward_id: ward.name for ward_id, ward in city.wards.items()}


def page_outputs(db: Database, city: City, filters: Filters, lang: Lang) -> dict[str, Any]:
    """Every output of the page for these filters; the database not answering gives a message and empty figures."""
    found: Report | None
    try:
        found, message = report(db, filters, tz=city.timezone), None
    except DatabaseError as exc:
        log.error("managers' page cannot read the database: %s", exc)
        found, message = None, problem(t("mgr.unavailable", lang))
    charts = figures(found, lang, ward_names(city))
    return {
        "message": message,
        "summary": summary_text(found, lang) if found is not None else "",
        "kpis": kpi_cards(found, lang),
        **charts,
    }


def download(content: bytes, name: str, media_type: str) -> dict[str, Any]:
    """What dcc.Download takes to save a file (the content base64-encoded, as dcc.send_bytes makes it)."""
    return {"content": base64.b64encode(content).decode("ascii"), "filename": name, "type": media_type, "base64": True}


@callback(
    output=OUTPUTS,
    inputs={**{name: Input(*spec) for name, spec in CONTROLS.items()}, "lang": State(ids.LANG, "data")},
)
@guarded(PERMISSION)
def refresh(
    period: str | None,
    start: str | None,
    end: str | None,
    types: list[str] | None,
    wards: list[str] | None,
    severities: list[str] | None,
    lang: str | None,
) -> dict[str, Any]:
    """The figures for the period and filters chosen (and when the page loads)."""
    res = resources()
    controls = {"period": period, "start": start, "end": end, "types": types, "wards": wards, "severities": severities}
    return page_outputs(res.database, res.city, filters_of(controls, city=res.city), chosen_lang(lang))


@callback(
    output=EXPORT_OUTPUTS,
    inputs={
        "csv": Input(ids.EXPORT_CSV, "n_clicks"),
        "xlsx": Input(ids.EXPORT_XLSX, "n_clicks"),
        **{name: State(*spec) for name, spec in CONTROLS.items()},
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(EXPORT_PERMISSION)
def export(
    csv: int | None,
    xlsx: int | None,
    period: str | None,
    start: str | None,
    end: str | None,
    types: list[str] | None,
    wards: list[str] | None,
    severities: list[str] | None,
    lang: str | None,
) -> dict[str, Any]:
    """The incidents of the period and filters with their audit rows, as a .zip of CSV files or an .xlsx file."""
    trigger = dash.ctx.triggered_id
    clicks = {ids.EXPORT_CSV: csv, ids.EXPORT_XLSX: xlsx}
    if trigger not in EXPORT_BUTTONS or not clicks[trigger]:
        raise PreventUpdate  # drawn anew, not clicked
    fmt = EXPORT_BUTTONS[trigger]
    res, chosen = resources(), chosen_lang(lang)
    controls = {"period": period, "start": start, "end": end, "types": types, "wards": wards, "severities": severities}
    try:
        name, content = export_bytes(
            res.database, filters_of(controls, city=res.city), fmt, tz=res.city.timezone, lang=chosen
        )
    except DatabaseError as exc:
        log.error("managers' export cannot read the database: %s", exc)
        return {"download": None, "message": problem(t("mgr.unavailable", chosen))}
    who = principal()
    log.info("%s exported incidents as %s (%d bytes)", who.name if who else "?", name, len(content))
    try:
        record_export(
            res.database,
            actor=who.name if who else "?",
            name=name,
            size=len(content),
            filters=filters_of(controls, city=res.city),
            address=client_address(),
        )
    except DatabaseError as exc:  # not audited, not given: an export must leave its trace
        log.error("managers' export cannot be audited: %s", exc)
        return {"download": None, "message": problem(t("mgr.unavailable", chosen))}
    return {
        "download": download(content, name, MEDIA_TYPES[fmt]),
        "message": t("mgr.export.done", chosen, name=name),
    }
