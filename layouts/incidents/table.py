"""The incidents table (dash-ag-grid): one row per incident as plain JSON (ids and raw values for sorting and
styling, labels in the page's language for reading), columns that show the labels, and severity, status and
overdue marked by class (a word and a shape, never colour alone). Sorting happens in the grid; filtering on the
server (filters.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import dash_ag_grid as dag

from ioc.city import City
from ioc.i18n import t
from ioc.incidents.model import SEVERITY_ORDER, STATUSES, Incident
from ioc.incidents.texts import label
from layouts.common import grid_locale, local_datetime
from layouts.incidents import ids

# The wall's palette (assets/wall.css) in the grid's own theme parameters.
GRID_THEME: Final = (
    "themeQuartz.withParams({backgroundColor: '#121921', foregroundColor: '#f2f5f8', accentColor: '#5b9dff', "
    "borderColor: '#2c3642', headerBackgroundColor: '#1a232e', headerTextColor: '#b4bfcc', "
    "oddRowBackgroundColor: '#151d26', rowHoverColor: 'rgba(255, 255, 255, 0.05)', "
    "selectedRowBackgroundColor: 'rgba(91, 157, 255, 0.22)', fontSize: 15, spacing: 6})"
)
STATUS_RANK: Final = {s.value: i for i, s in enumerate(STATUSES)}


def row(incident: Incident, city: City, lang: str) -> dict[str, Any]:
    """One incident as a table row: raw values to sort and style by, labels to read."""
    ward = city.wards.get(incident.ward or "")
    return {
        "id": incident.id,
        "opened_at": incident.opened_at.isoformat(),
        "opened": local_datetime(incident.opened_at, city.timezone, lang),
        "type": incident.type,
        "type_label": label("type", incident.type, lang),
        "place": incident.place_name,
        "ward": ward.name if ward is not None else "—",
        "severity": incident.severity,
        "severity_rank": SEVERITY_ORDER.index(incident.severity),
        "severity_label": label("severity", incident.severity, lang),
        "status": str(incident.status),
        "status_rank": STATUS_RANK.get(str(incident.status), 0),
        "status_label": label("status", str(incident.status), lang),
        "overdue": incident.overdue,
        "overdue_label": t("incident.overdue", lang) if incident.overdue else "",
        "condition_label": label("condition", incident.condition, lang),
        "unit_label": label("unit", incident.unit, lang) or "—",
        "alerts": incident.alert_count,
        "version": incident.version,
    }


def rows(incidents: Sequence[Incident], city: City, lang: str) -> list[dict[str, Any]]:
    """The table's rows, in the order given (newest first from the query)."""
    return [row(incident, city, lang) for incident in incidents]


def _shown(field: str) -> dict[str, str]:
    """A value formatter showing another field of the row (the label of a raw value sorted on)."""
    return {"function": f"params.data.{field}"}


def column_defs(lang: str) -> list[dict[str, Any]]:
    """The columns: id, opened (city time), type, place, ward, severity, status, overdue, condition, unit, alerts."""

    def head(name: str) -> str:
        return t(f"incidents.col.{name}", lang)

    return [
        {"field": "id", "headerName": head("id"), "width": 80, "type": "numericColumn"},
        {"field": "opened_at", "headerName": head("opened"), "valueFormatter": _shown("opened"), "width": 160},
        {"field": "type_label", "headerName": head("type"), "flex": 1, "minWidth": 140},
        {"field": "place", "headerName": head("place"), "flex": 2, "minWidth": 180},
        {"field": "ward", "headerName": head("ward"), "width": 130},
        {
            "field": "severity_rank",
            "headerName": head("severity"),
            "valueFormatter": _shown("severity_label"),
            "width": 160,
            "cellClassRules": {f"inc-sev inc-sev--{s}": f"params.data.severity === '{s}'" for s in SEVERITY_ORDER},
        },
        {
            "field": "status_rank",
            "headerName": head("status"),
            "valueFormatter": _shown("status_label"),
            "width": 160,
            "cellClassRules": {
                f"inc-status inc-status--{s.value}": f"params.data.status === '{s.value}'" for s in STATUSES
            },
        },
        {
            "field": "overdue",
            "headerName": head("overdue"),
            "valueFormatter": _shown("overdue_label"),
            "width": 110,
            "cellClassRules": {"inc-overdue": "params.data.overdue"},
        },
        {"field": "condition_label", "headerName": head("condition"), "width": 170},
        {"field": "unit_label", "headerName": head("unit"), "width": 150},
        {"field": "alerts", "headerName": head("alerts"), "width": 100, "type": "numericColumn"},
    ]


def incidents_table(table_rows: list[dict[str, Any]], lang: str) -> dag.AgGrid:
    """The grid: one row selected at a time (by click), rows kept by id so a reload keeps the selection."""
    return dag.AgGrid(
        id=ids.TABLE,
        rowData=table_rows,
        columnDefs=column_defs(lang),
        defaultColDef={"sortable": True, "resizable": True, "suppressHeaderMenuButton": True},
        getRowId="params.data.id",
        rowClassRules={
            "inc-row--overdue": "params.data.overdue",
            "inc-row--critical": "params.data.severity === 'critical'",
        },
        dashGridOptions={
            "theme": {"function": GRID_THEME},
            "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
            "animateRows": False,
            "localeText": {**grid_locale(lang), "noRowsToShow": t("incidents.none", lang)},
        },
        selectedRows=[],
        className="inc-grid",
        style={"height": "100%", "width": "100%"},
    )
