"""Incidents page callbacks: reload the table when the filters or the incidents change (a cheap change marker polled
about every 3 s), show the selected incident, take an action on it, pick a place on the map and open an incident by
hand. Each is guarded (HANDLE_INCIDENTS) and makes one call into ioc/incidents as the signed-in person, from the
request's address (both go to the audit log), in the person's workspace (`callbacks.auth.workspace`, decided on the
server per request): a trainee of a running or paused exercise lists, reads and acts on that exercise's incidents
only, on its clock (filter periods count back from it, actions are recorded at it); anyone else, live only. An action
names the version the detail showed, so a change made meanwhile by someone else is refused (IncidentChanged) and the
detail shows the incident as it is now; the core checks the role again. Refusals are worded in the page's language by
ioc/incidents/texts.py."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

import dash
import redis
from dash import Input, Output, State, callback, no_update
from dash.exceptions import PreventUpdate

from callbacks import chosen_lang, resources
from callbacks.auth import acting_principal, client_address, guarded, workspace
from ioc.documents import decode_health
from ioc.errors import DatabaseError, IocError, NotFound
from ioc.i18n import t
from ioc.identity.roles import ROLE_PERMISSIONS, Permission
from ioc.incidents import lifecycle
from ioc.incidents.model import Incident, IncidentChanged, Limits, allowed_actions
from ioc.incidents.places import nearest_place
from ioc.incidents.queries import DEFAULT_LIMIT, Filters, change_marker, list_incidents
from ioc.incidents.texts import label, refusal
from ioc.inputs import valid_id
from layouts.incidents import ids
from layouts.incidents.detail import ACTION_BUTTONS, action_hidden, cameras_of, detail, no_detail
from layouts.incidents.feedback import done, problem
from layouts.incidents.filters import filters_of
from layouts.incidents.page import count_text
from layouts.incidents.report import clicked_point, picked_text, pin
from layouts.incidents.table import rows

log = logging.getLogger(__name__)

PERMISSION: Final = Permission.HANDLE_INCIDENTS
BUTTONS: Final = {button: action for action, button in ACTION_BUTTONS.items()}

DETAIL: Final = {
    "detail": Output(ids.DETAIL, "children"),
    "shown": Output(ids.SHOWN, "data"),
    "panel": Output(ids.ACTIONS, "hidden"),
    "buttons": {action.value: Output(button, "hidden") for action, button in ACTION_BUTTONS.items()},
}


def _dup(outputs: dict[str, Any]) -> dict[str, Any]:
    """The same outputs, written by a second callback."""
    return {
        k: _dup(v) if isinstance(v, dict) else Output(v.component_id, v.component_property, allow_duplicate=True)
        for k, v in outputs.items()
    }


def now() -> datetime:
    """The time from which the filter periods count back: the exercise's clock for a trainee, else now (UTC)."""
    return workspace().now()


def read_table(filters: Filters, lang: str) -> tuple[list[dict[str, Any]], str]:
    """The table's rows for these filters, of the person's workspace only (live, or the exercise), and the change
    marker read just before them (so a change made between the two reads shows at the next poll)."""
    res, exercise = resources(), workspace().exercise_id
    marker = change_marker(res.database, exercise)
    return rows(list_incidents(res.database, replace(filters, exercise=exercise)), res.city, lang), marker


def camera_health(camera_ids: list[str]) -> dict[str, str]:
    """The status of these cameras in the person's namespace (live, or the exercise's) from Redis (none when Redis
    does not answer: shown as unknown)."""
    if not camera_ids:
        return {}
    res = resources()
    try:
        raw = res.redis.hmget(workspace().keys.health(), camera_ids)
    except (redis.RedisError, OSError) as exc:
        log.warning("incidents page cannot read device health: %s", exc)
        return {}
    found: dict[str, str] = {}
    for camera_id, value in zip(camera_ids, raw, strict=True):
        doc = decode_health(value)
        if doc is not None:
            found[camera_id] = doc["status"]
    return found


def detail_values(incident: Incident, lang: str) -> dict[str, Any]:
    """The detail outputs for an incident as it is now: its view, the version shown, the actions the role may take."""
    res = resources()
    entries = lifecycle.timeline(res.database, incident.id, exercise=incident.exercise_id)
    view = detail(
        incident,
        entries,
        cameras_of(res.city, incident.cameras, camera_health(incident.cameras)),
        city=res.city,
        lang=lang,
        tile_url=res.settings.tile_url,
    )
    allowed = allowed_actions(incident.status, ROLE_PERMISSIONS[acting_principal().role])
    return {
        "detail": view,
        "shown": {"id": incident.id, "version": incident.version},
        "panel": not allowed,
        "buttons": action_hidden(allowed),
    }


def unchanged_detail() -> dict[str, Any]:
    """The detail outputs left as the page shows them."""
    return {
        "detail": no_update,
        "shown": no_update,
        "panel": no_update,
        "buttons": dict.fromkeys((a.value for a in ACTION_BUTTONS), no_update),
    }


def no_detail_values(lang: str, message: str | None = None) -> dict[str, Any]:
    """The detail outputs with no incident shown (or a problem saying why)."""
    return {
        "detail": problem(message) if message else no_detail(lang),
        "shown": None,
        "panel": True,
        "buttons": action_hidden(()),
    }


@callback(
    output={
        "rows": Output(ids.TABLE, "rowData"),
        "marker": Output(ids.MARKER, "data"),
        "count": Output(ids.COUNT, "children"),
    },
    inputs={
        "tick": Input(ids.POLL, "n_intervals"),
        "statuses": Input(ids.STATUS, "value"),
        "types": Input(ids.TYPE, "value"),
        "severities": Input(ids.SEVERITY, "value"),
        "wards": Input(ids.WARD, "value"),
        "period": Input(ids.PERIOD, "value"),
        "start": Input(ids.DATES, "start_date"),
        "end": Input(ids.DATES, "end_date"),
        "overdue": Input(ids.OVERDUE, "value"),
        "marker": State(ids.MARKER, "data"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def reload_table(
    tick: int | None,
    statuses: Any,
    types: Any,
    severities: Any,
    wards: Any,
    period: Any,
    start: Any,
    end: Any,
    overdue: Any,
    marker: str | None,
    lang: str | None,
) -> dict[str, Any]:
    """The table for the filters chosen: on a poll only when the change marker moved, at once when a filter
    changed. Selection is kept by the grid (rows are identified by incident id)."""
    chosen = chosen_lang(lang)
    res = resources()
    polled = {item["prop_id"] for item in dash.ctx.triggered} == {f"{ids.POLL}.n_intervals"}
    try:
        if polled and change_marker(res.database, workspace().exercise_id) == marker:
            raise PreventUpdate
        filters = filters_of(
            city=res.city,
            now=now(),
            statuses=statuses,
            types=types,
            severities=severities,
            wards=wards,
            period=period,
            start=start,
            end=end,
            overdue=overdue,
        )
        table, now_marker = read_table(filters, chosen)
    except DatabaseError as exc:
        log.error("incidents page cannot read the database: %s", exc)
        return {"rows": no_update, "marker": None, "count": problem(t("incident.unavailable", chosen))}
    return {"rows": table, "marker": now_marker, "count": count_text(len(table), DEFAULT_LIMIT, chosen)}


@callback(
    output=DETAIL,
    inputs={
        "selected": Input(ids.TABLE, "selectedRows"),
        "marker": Input(ids.MARKER, "data"),
        "shown": State(ids.SHOWN, "data"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def show_detail(selected: Any, marker: str | None, shown: Any, lang: str | None) -> dict[str, Any]:
    """The detail of the selected row, read now; when only the incidents changed (the marker), rebuilt only if the
    incident shown is not the version on screen any more."""
    chosen = chosen_lang(lang)
    first = selected[0] if isinstance(selected, list) and selected else None
    incident_id = valid_id(first.get("id")) if isinstance(first, dict) else None  # none of ours beyond the ids
    only_marker = {item["prop_id"] for item in dash.ctx.triggered} == {f"{ids.MARKER}.data"}
    if incident_id is None:
        if only_marker:
            raise PreventUpdate  # the incidents changed while none is selected: nothing to show
        return no_detail_values(chosen)
    try:
        incident = lifecycle.get_incident(resources().database, incident_id, exercise=workspace().exercise_id)
        if (
            only_marker
            and isinstance(shown, dict)
            and shown.get("id") == incident.id
            and shown.get("version") == incident.version
        ):
            raise PreventUpdate
        return detail_values(incident, chosen)
    except (DatabaseError, NotFound) as exc:
        if isinstance(exc, DatabaseError):
            log.error("incidents page cannot read incident %s: %s", incident_id, exc)
        return no_detail_values(chosen, refusal(exc, chosen))


@callback(
    output={
        "message": Output(ids.MESSAGE, "children", allow_duplicate=True),
        **_dup(DETAIL),
        "text": Output(ids.TEXT, "value"),
        "unit": Output(ids.UNIT, "value"),
    },
    inputs={
        "clicks": [Input(button, "n_clicks") for button in ACTION_BUTTONS.values()],
        "shown": State(ids.SHOWN, "data"),
        "text": State(ids.TEXT, "value"),
        "unit": State(ids.UNIT, "value"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def act(clicks: list[int | None], shown: Any, text: str | None, unit: str | None, lang: str | None) -> dict[str, Any]:
    """Take the clicked action on the incident shown, as of the version shown."""
    trigger = dash.ctx.triggered_id
    triggered = dash.ctx.triggered
    if trigger not in BUTTONS or not triggered or not triggered[0].get("value"):
        raise PreventUpdate  # buttons drawn anew report no click
    if not isinstance(shown, dict) or not isinstance(shown.get("id"), int) or not isinstance(shown.get("version"), int):
        raise PreventUpdate
    action = BUTTONS[trigger]
    chosen = chosen_lang(lang)
    res, who = resources(), acting_principal()
    keep = {"text": no_update, "unit": no_update}
    try:
        where = workspace()
        incident = lifecycle.act(
            res.database,
            shown["id"],
            action,
            actor=who.name,
            role=who.role,
            expected_version=shown["version"],
            limits=Limits.of(res.settings),
            units=res.settings.incident_units,
            text=text,
            unit=unit,
            address=client_address(),
            exercise=where.exercise_id,
            now=where.action_time(),
        )
    except IncidentChanged as exc:
        log.info("%s: %s on incident %s refused, changed meanwhile", who.name, action.value, shown["id"])
        try:
            fresh = detail_values(exc.current, chosen)
        except DatabaseError:
            fresh = unchanged_detail()
        return {"message": problem(refusal(exc, chosen)), **fresh, **keep}
    except IocError as exc:
        (log.error if isinstance(exc, DatabaseError) else log.info)(
            "%s: %s on incident %s refused: %s", who.name, action.value, shown["id"], type(exc).__name__
        )
        return {"message": problem(refusal(exc, chosen)), **unchanged_detail(), **keep}
    log.info("%s: %s on incident %s", who.name, action.value, incident.id)
    message = done(
        t(
            "incidents.done",
            chosen,
            action=label("action", action.value, chosen).lower(),
            id=incident.id,
            status=label("status", str(incident.status), chosen),
        )
    )
    try:
        fresh = detail_values(incident, chosen)
    except DatabaseError:
        fresh = unchanged_detail()
    return {"message": message, **fresh, "text": "", "unit": None}


@callback(
    output={
        "point": Output(ids.NEW_POINT, "data"),
        "pin": Output(ids.NEW_PIN, "children"),
        "place": Output(ids.NEW_PLACE, "children"),
    },
    inputs={"click": Input(ids.NEW_MAP, "clickData"), "lang": State(ids.LANG, "data")},
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def pick_place(click: Any, lang: str | None) -> dict[str, Any]:
    """The point clicked on the map, named after the nearest road or sensor."""
    point = clicked_point(click)
    if point is None:
        raise PreventUpdate
    chosen = chosen_lang(lang)
    city = resources().city
    lat, lon = point
    if not city.contains(lat, lon):
        return {"point": None, "pin": [], "place": t("incident.outside_city", chosen)}
    place = nearest_place(city, lat, lon)
    return {"point": {"lat": lat, "lon": lon}, "pin": pin(lat, lon), "place": picked_text(place.name, lat, lon, chosen)}


@callback(
    output={
        "message": Output(ids.MESSAGE, "children", allow_duplicate=True),
        "description": Output(ids.NEW_DESCRIPTION, "value"),
        "point": Output(ids.NEW_POINT, "data", allow_duplicate=True),
        "pin": Output(ids.NEW_PIN, "children", allow_duplicate=True),
        "place": Output(ids.NEW_PLACE, "children", allow_duplicate=True),
    },
    inputs={
        "clicks": Input(ids.NEW_SUBMIT, "n_clicks"),
        "incident_type": State(ids.NEW_TYPE, "value"),
        "severity": State(ids.NEW_SEVERITY, "value"),
        "description": State(ids.NEW_DESCRIPTION, "value"),
        "point": State(ids.NEW_POINT, "data"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def open_incident(
    clicks: int | None,
    incident_type: str | None,
    severity: str | None,
    description: str | None,
    point: Any,
    lang: str | None,
) -> dict[str, Any]:
    """Open an incident by hand at the point picked on the map."""
    if not clicks:
        raise PreventUpdate
    chosen = chosen_lang(lang)
    unchanged = {"description": no_update, "point": no_update, "pin": no_update, "place": no_update}
    picked = clicked_point({"latlng": [point.get("lat"), point.get("lon")]}) if isinstance(point, dict) else None
    if picked is None:
        return {"message": problem(t("incidents.new.needs_place", chosen)), **unchanged}
    res, who = resources(), acting_principal()
    try:
        where = workspace()
        incident = lifecycle.open_by_hand(
            res.database,
            city=res.city,
            limits=Limits.of(res.settings),
            actor=who.name,
            role=who.role,
            incident_type=incident_type or "",
            lat=picked[0],
            lon=picked[1],
            description=description,  # any value posted: the core checks it (ioc.inputs' rule)
            severity=severity or "",  # type: ignore[arg-type]
            address=client_address(),
            exercise=where.exercise_id,
            now=where.action_time(),
        )
    except IocError as exc:
        (log.error if isinstance(exc, DatabaseError) else log.info)(
            "%s could not open an incident: %s", who.name, type(exc).__name__
        )
        return {"message": problem(refusal(exc, chosen)), **unchanged}
    log.info("%s opened incident %s (%s) by hand", who.name, incident.id, incident.type)
    message = done(
        t(
            "incidents.done.open",
            chosen,
            id=incident.id,
            type=label("type", incident.type, chosen),
            place=incident.place_name,
        )
    )
    return {"message": message, "description": "", "point": None, "pin": [], "place": t("incidents.new.pick", chosen)}
