"""The wall's incidents panel: open incidents counted by severity, how many are overdue, and two short lists (the
newest critical ones, the longest overdue ones; a few rows each). Pure functions of a WallSummary, or None when the
database does not answer; callbacks/wall/incidents.py reads the summary on its own interval, outside the tick."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from dash import dcc, html, no_update
from dash.development.base_component import Component

from ioc.city import City
from ioc.i18n import t
from ioc.incidents.model import SEVERITY_ORDER, Incident
from ioc.incidents.queries import WallSummary
from ioc.incidents.texts import label
from layouts.common import SectionDiff
from layouts.wall import ids

REFRESH_MS: Final = 5_000  # incidents change by people's hands: every 5 s is fresh enough and cheap
PANEL_CLASS: Final = "wall-panel wall-panel--incidents"


def age_text(seconds: float, lang: str) -> str:
    """How long ago, short: "just now", "12 min", "2 h 05 min", "3 d"."""
    minutes = max(int(seconds // 60), 0)
    if minutes < 1:
        return t("wall.incidents.age.now", lang)
    if minutes < 60:
        return t("wall.incidents.age.min", lang, minutes=minutes)
    if minutes < 24 * 60:
        return t("wall.incidents.age.hour", lang, hours=minutes // 60, minutes=f"{minutes % 60:02d}")
    return t("wall.incidents.age.day", lang, days=minutes // (24 * 60))


def _age_minutes(incident: Incident, now: datetime) -> int:
    return max(int((now - incident.opened_at).total_seconds() // 60), 0)


def incidents_key(summary: WallSummary | None, now: datetime) -> list[Any]:
    """What the panel shows, as plain data (its content for the "changed since this browser saw it" diff): the
    counts, and per listed incident its id, version and age in whole minutes."""
    if summary is None:
        return ["unavailable"]

    def rows(items: Sequence[Incident]) -> list[list[Any]]:
        return [[i.id, i.version, _age_minutes(i, now)] for i in items]

    return [
        summary.open_by_severity,
        summary.overdue,
        rows(summary.newest_critical),
        rows(summary.overdue_list),
        summary.back_to_normal,
    ]


def panel_class(summary: WallSummary | None) -> str:
    """The panel's classes: it shouts (`is-alert`) only while a critical or an overdue incident is open."""
    if summary is None:
        return f"{PANEL_CLASS} is-unavailable"
    shout = summary.open_by_severity.get("critical", 0) > 0 or summary.overdue > 0
    return f"{PANEL_CLASS} is-alert" if shout else PANEL_CLASS


def _count(key: str, name: str, value: int, loud: bool) -> Component:
    state = f" wall-inc-count--{key}" + (" is-loud" if loud and value > 0 else "") + (" is-zero" if not value else "")
    return html.Div(
        className=f"wall-inc-count{state}",
        children=[
            html.Span(str(value), className="wall-inc-count-value"),
            html.Span(name, className="wall-inc-count-label"),
        ],
    )


def _row(incident: Incident, city: City, lang: str, now: datetime, overdue: bool) -> Component:
    ward = city.wards.get(incident.ward) if incident.ward else None
    modifier = "critical" if incident.severity == "critical" else ("overdue" if overdue else incident.severity)
    return html.Li(
        className=f"wall-inc wall-inc--{modifier}",
        children=[
            html.Span(age_text((now - incident.opened_at).total_seconds(), lang), className="wall-inc-age"),
            html.Span(label("type", incident.type, lang), className="wall-inc-type"),
            html.Span(incident.place_name, className="wall-inc-place"),
            html.Span(ward.name if ward else (incident.ward or ""), className="wall-inc-ward"),
        ],
    )


def _list(title: str, items: Sequence[Incident], city: City, lang: str, now: datetime, overdue: bool) -> Component:
    rows = [_row(i, city, lang, now, overdue) for i in items] or [
        html.Li(t("wall.incidents.none", lang), className="wall-inc wall-inc--empty")
    ]
    return html.Div(
        className="wall-inc-list",
        children=[html.H3(title, className="wall-inc-list-title"), html.Ul(rows, className="wall-inc-rows")],
    )


def incidents_body(summary: WallSummary | None, city: City, lang: str, now: datetime) -> list[Component]:
    """The panel's content: the counts and the two short lists, or a quiet line when the database does not answer."""
    if summary is None:
        return [html.Div(t("wall.incidents.unavailable", lang), className="wall-inc-unavailable", role="status")]
    counts = [
        _count(
            severity,
            label("severity", severity, lang),
            summary.open_by_severity.get(severity, 0),
            loud=severity == "critical",
        )
        for severity in reversed(SEVERITY_ORDER)
    ]
    counts.append(_count("overdue", t("incident.overdue", lang), summary.overdue, loud=True))
    counts.append(_count("normal", t("wall.incidents.back_to_normal", lang), summary.back_to_normal, loud=False))
    return [
        html.Div(counts, className="wall-inc-counts"),
        _list(t("wall.incidents.newest_critical", lang), summary.newest_critical, city, lang, now, overdue=False),
        _list(t("wall.incidents.overdue_list", lang), summary.overdue_list, city, lang, now, overdue=True),
    ]


def incidents_panel(lang: str) -> Component:
    """The panel as the page first draws it (a placeholder until its first read), with its own interval and the
    store of what this browser shows."""
    return html.Section(
        id=ids.INCIDENTS_PANEL,
        className=PANEL_CLASS,
        children=[
            dcc.Interval(id=ids.INCIDENTS_INTERVAL, interval=REFRESH_MS),
            dcc.Store(id=ids.INCIDENTS_SEEN, data=None),
            html.H2(t("wall.incidents.title", lang), className="wall-panel-title"),
            html.Div(
                [html.Div(t("wall.incidents.loading", lang), className="wall-inc-unavailable")],
                id=ids.INCIDENTS,
                className="wall-inc-body",
            ),
        ],
    )


@dataclass(frozen=True)
class IncidentsUpdate:
    """What one read of the panel sends to one browser: the body and the panel's classes (`no_update` when this
    browser already shows the same), and the store of what it shows now."""

    body: Any
    class_name: Any
    seen: Any

    def outputs(self) -> dict[str, Any]:
        """The values by output name (callbacks/wall/incidents.py maps each to its component property)."""
        return {"body": self.body, "class_name": self.class_name, "seen": self.seen}


def build_incidents(summary: WallSummary | None, city: City, lang: str, seen: object, now: datetime) -> IncidentsUpdate:
    """The panel's update for a browser that shows `seen` (its store); pure, so tests call it directly."""
    shown = {str(k): str(v) for k, v in seen.items()} if isinstance(seen, Mapping) else {}
    diff = SectionDiff(shown, salt=lang)
    body = diff.changed("body", incidents_key(summary, now), lambda: incidents_body(summary, city, lang, now))
    class_name = diff.value("class", panel_class(summary))
    return IncidentsUpdate(
        body=body, class_name=class_name, seen=diff.versions if diff.versions != shown else no_update
    )
