"""One incident in detail: a header (type, place, severity, status, overdue, condition, times), its timeline from
the audit log (who, when, what, and the comment, note or unit given), the place on a small map, the cameras
attached to it with their live status and image links, and the actions panel (every action's button is always in
the page; `action_hidden` says which the role may take now). Pure: plain data in, components out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import dash_leaflet as dl
from dash import dcc, html
from dash.development.base_component import Component

from ioc.audit import AuditEntry
from ioc.city import City
from ioc.i18n import TEXTS, t
from ioc.incidents.model import Action, Incident
from ioc.incidents.texts import label
from layouts.common import dropdown_labels, local_datetime
from layouts.incidents import ids

ACTION_BUTTONS: Final[dict[Action, str]] = {
    Action.ACKNOWLEDGE: ids.ACKNOWLEDGE,
    Action.DISPATCH: ids.DISPATCH,
    Action.RESOLVE: ids.RESOLVE,
    Action.CLOSE: ids.CLOSE,
    Action.REOPEN: ids.REOPEN,
    Action.COMMENT: ids.COMMENT,
}
MAP_ZOOM: Final = 15
TIMES: Final = (
    "detected_at",
    "opened_at",
    "acknowledged_at",
    "dispatched_at",
    "resolved_at",
    "closed_at",
    "ack_due_at",
    "resolve_due_at",
    "condition_at",
)
ENTRY_PREFIX: Final = "incident."


@dataclass(frozen=True)
class CameraView:
    """A camera attached to an incident as the page shows it: its name, live status and image links if any."""

    id: str
    name: str
    status: str  # online | offline | fault | unknown
    snapshot_url: str | None = None
    stream_url: str | None = None


def cameras_of(city: City, camera_ids: Iterable[str], health: dict[str, str]) -> list[CameraView]:
    """The cameras of an incident from the city data and their statuses (`health`: sensor id -> status)."""
    views = []
    for camera_id in camera_ids:
        sensor = city.sensors.get(camera_id)
        views.append(
            CameraView(
                id=camera_id,
                name=sensor.name if sensor else camera_id,
                status=health.get(camera_id, "unknown"),
                snapshot_url=sensor.snapshot_url if sensor else None,
                stream_url=sensor.stream_url if sensor else None,
            )
        )
    return views


def _badge(text: str, kind: str, value: str) -> Component:
    return html.Span(text, className=f"inc-badge inc-{kind} inc-{kind}--{value}")


def header(incident: Incident, city: City, lang: str) -> Component:
    """Type and place, the badges (severity, status, overdue, condition) and every time that is known."""
    ward = city.wards.get(incident.ward or "")
    badges = [
        _badge(label("severity", incident.severity, lang), "sev", incident.severity),
        _badge(label("status", str(incident.status), lang), "status", str(incident.status)),
        _badge(label("condition", incident.condition, lang), "cond", incident.condition),
    ]
    if incident.overdue:
        badges.append(_badge(t("incident.overdue", lang), "overdue", "yes"))
    if incident.unit:
        badges.append(_badge(label("unit", incident.unit, lang), "unit", "set"))
    times = [
        (t(f"incidents.time.{name}", lang), local_datetime(getattr(incident, name), city.timezone, lang))
        for name in TIMES
        if getattr(incident, name) is not None
    ]
    source_key = f"incidents.source.{incident.source}"
    return html.Div(
        className="inc-detail-head",
        children=[
            html.H2(
                [html.Span(f"#{incident.id}", className="inc-detail-id"), label("type", incident.type, lang)],
                className="inc-detail-title",
            ),
            html.Div(
                [incident.place_name, *([html.Span(f" · {ward.name}", className="inc-muted")] if ward else [])],
                className="inc-detail-place",
            ),
            html.Div(badges, className="inc-badges"),
            *([html.P(incident.description, className="inc-detail-description")] if incident.description else []),
            html.Div(
                t(
                    "incidents.opened_by",
                    lang,
                    name=incident.opened_by,
                    source=t(source_key, lang) if source_key in TEXTS else incident.source,
                ),
                className="inc-muted",
            ),
            html.Dl([part for name, when in times for part in (html.Dt(name), html.Dd(when))], className="inc-times"),
        ],
    )


def describe(entry: AuditEntry, lang: str) -> str:
    """What an audit entry did, as the action's name ("Acknowledge", "Open"); an unknown action as stored."""
    action = entry.action.removeprefix(ENTRY_PREFIX)
    return label("action", action, lang) if f"incident.action.{action}" in TEXTS else entry.action


def entry_details(entry: AuditEntry, lang: str) -> list[str]:
    """What an entry adds to its action: the status it moved to, the unit, and the comment or note given."""
    before, after = entry.before or {}, entry.after or {}
    lines = []
    if before.get("status") and after.get("status") and before["status"] != after["status"]:
        lines.append(f"{label('status', before['status'], lang)} → {label('status', after['status'], lang)}")
    if after.get("unit") and entry.action == f"{ENTRY_PREFIX}{Action.DISPATCH.value}":
        lines.append(t("incidents.timeline.unit", lang, unit=label("unit", str(after["unit"]), lang)))
    for key in ("text", "description"):
        if isinstance(after.get(key), str) and after[key]:
            lines.append(after[key])
    return lines


def timeline_view(entries: Sequence[AuditEntry], lang: str, tz: str) -> Component:
    """Everything that happened, oldest first: when, who, what, and the text given."""
    if not entries:
        return html.P(t("incidents.timeline.empty", lang), className="inc-muted")
    return html.Ol(
        className="inc-timeline",
        children=[
            html.Li(
                className=f"inc-step inc-step--{entry.action.removeprefix(ENTRY_PREFIX)}",
                children=[
                    html.Div(
                        [
                            html.Span(local_datetime(entry.at, tz, lang, seconds=True), className="inc-step-when"),
                            html.Span(entry.actor, className="inc-step-who"),
                            html.Span(describe(entry, lang), className="inc-step-what"),
                        ],
                        className="inc-step-head",
                    ),
                    *[html.Div(line, className="inc-step-text") for line in entry_details(entry, lang)],
                ],
            )
            for entry in entries
        ],
    )


def base_layers(city: City, tile_url: str) -> list[Component]:
    """The map underneath: tiles when configured, else the city's offline basemap (styled by assets/wall_map.js)."""
    if tile_url:
        return [dl.TileLayer(url=tile_url, opacity=0.6)]
    # In a pane of its own under the overlays (as on the wall): the city outline is filled opaque, and GeoJSON data
    # drawn after the markers would otherwise cover them.
    return [
        dl.Pane(
            dl.GeoJSON(
                data=city.basemap,
                style={"variable": "wallMap.basemapStyle"},
                pointToLayer={"variable": "wallMap.basemapPoint"},
                interactive=False,
            ),
            name="inc-basemap",
            style={"zIndex": 250},
        )
    ]


def incident_map(incident: Incident, city: City, tile_url: str) -> dl.Map:
    """A small map centred on the incident, its cameras as small dots."""
    cameras = [city.sensors[c] for c in incident.cameras if c in city.sensors]
    return dl.Map(
        center=[incident.lat, incident.lon],
        zoom=MAP_ZOOM,
        zoomControl=True,
        attributionControl=bool(tile_url),
        className="inc-map inc-map--detail",
        children=[
            *base_layers(city, tile_url),
            *[
                dl.CircleMarker(
                    center=[c.lat, c.lon],
                    radius=5,
                    pathOptions={"color": "#5b9dff", "fillOpacity": 0.9},
                    children=dl.Tooltip(c.name),
                )
                for c in cameras
            ],
            dl.CircleMarker(
                center=[incident.lat, incident.lon],
                radius=10,
                className="inc-map-incident",
                pathOptions={"color": "#ff4d6d", "weight": 3, "fillOpacity": 0.35},
                children=dl.Tooltip(incident.place_name),
            ),
        ],
    )


def cameras_view(cameras: Sequence[CameraView], lang: str) -> Component:
    """The cameras attached: name, live status, and links to a snapshot and the stream when the city has them."""
    if not cameras:
        return html.P(t("incidents.cameras.none", lang), className="inc-muted")
    items = []
    for camera in cameras:
        links = [
            html.A(
                t(f"incidents.cameras.{kind}", lang),
                href=url,
                target="_blank",
                rel="noopener noreferrer",
                className="inc-link",
            )
            for kind, url in (("snapshot", camera.snapshot_url), ("stream", camera.stream_url))
            if url
        ]
        items.append(
            html.Li(
                className="inc-camera",
                children=[
                    html.Span(camera.name, className="inc-camera-name"),
                    html.Span(t(f"health.{camera.status}", lang), className=f"inc-health inc-health--{camera.status}"),
                    *links,
                ],
            )
        )
    return html.Ul(items, className="inc-cameras")


def detail(
    incident: Incident,
    entries: Sequence[AuditEntry],
    cameras: Sequence[CameraView],
    *,
    city: City,
    lang: str,
    tile_url: str,
) -> Component:
    """The whole detail of one incident."""
    return html.Div(
        className=f"inc-detail is-{incident.severity}",
        children=[
            header(incident, city, lang),
            html.Div(
                className="inc-detail-body",
                children=[
                    html.Section(
                        [
                            html.H3(t("incidents.timeline.title", lang), className="inc-h3"),
                            timeline_view(entries, lang, city.timezone),
                        ],
                        className="inc-detail-timeline",
                    ),
                    html.Section(
                        [
                            incident_map(incident, city, tile_url),
                            html.H3(t("incidents.cameras.title", lang), className="inc-h3"),
                            cameras_view(cameras, lang),
                        ],
                        className="inc-detail-side",
                    ),
                ],
            ),
        ],
    )


def no_detail(lang: str) -> Component:
    """What the detail shows while no incident is selected."""
    return html.P(t("incidents.detail.none", lang), className="inc-muted inc-detail-empty")


def action_hidden(allowed: Iterable[Action]) -> dict[str, bool]:
    """Per action (by name), whether its button is hidden: those the role may not take now are."""
    shown = set(allowed)
    return {action.value: action not in shown for action in ACTION_BUTTONS}


def actions_panel(units: Sequence[str], lang: str) -> Component:
    """The action form under the detail: one text (a comment or a note), a unit to dispatch, a button per action
    (all hidden until an incident is shown)."""
    buttons = [
        html.Button(
            label("action", action.value, lang),
            id=button,
            n_clicks=0,
            hidden=True,
            className=f"inc-button inc-do inc-do--{action.value}",
        )
        for action, button in ACTION_BUTTONS.items()
    ]
    unit_options: list[dict[str, Any]] = [{"label": label("unit", u, lang), "value": u} for u in units]
    return html.Div(
        id=ids.ACTIONS,
        hidden=True,
        className="inc-actions",
        children=[
            html.Label(
                [
                    html.Span(t("incidents.action.text", lang), className="inc-field-label"),
                    dcc.Textarea(
                        id=ids.TEXT,
                        value="",
                        maxLength=2000,
                        rows=2,
                        className="inc-input inc-textarea",
                        placeholder=t("incidents.action.text_hint", lang),
                    ),
                ],
                className="inc-field inc-field--wide",
            ),
            html.Label(
                [
                    html.Span(t("incidents.action.unit", lang), className="inc-field-label"),
                    dcc.Dropdown(
                        labels=dropdown_labels(lang),
                        id=ids.UNIT,
                        options=unit_options,
                        value=None,
                        clearable=True,
                        searchable=False,
                        className="inc-select",
                    ),
                ],
                className="inc-field inc-field--unit",
            ),
            html.Div(buttons, className="inc-buttons"),
        ],
    )
