"""The wall's flood panel: one gauge per water-level station, its level against the BĐ I/II/III lines, the
highest alarm shown first."""

from __future__ import annotations

from dataclasses import dataclass

from dash import html
from dash.development.base_component import Component

from ioc.city import City, Sensor
from ioc.i18n import fmt_number, t
from ioc.snapshot import WallSnapshot
from layouts.common import health_problem
from layouts.states import alarm_state
from layouts.wall import ids


def gauge_scale(levels: tuple[float, float, float], normal: float | None) -> tuple[float, float]:
    """The (low, high) water levels a station's gauge spans: from below normal to well above BĐ III (fixed)."""
    bd1, _, bd3 = levels
    low = min(normal if normal is not None else bd1, bd1) - 0.5
    high = bd3 + max(0.5, (bd3 - bd1) * 0.5)
    return round(low, 2), round(high, 2)


def _pct(value: float, low: float, high: float) -> float:
    return round(max(0.0, min(100.0, (value - low) / (high - low) * 100)), 1)


@dataclass(frozen=True)
class GaugeView:
    """What one station's gauge shows now; its name and BĐ lines are static in the page."""

    station: str
    value: str
    badge: str
    status: str  # a0..a3, offline, fault or unknown
    fill_pct: float
    order: int  # place in the panel: highest alarm first


def gauge_views(snapshot: WallSnapshot | None, city: City, lang: str) -> list[GaugeView]:
    """Every water station's gauge contents, in city order (the page's order); `order` sorts them on screen."""
    stations = city.sensors_of("water_station")
    states = snapshot.stations if snapshot is not None else {}
    ranked = sorted(
        range(len(stations)), key=lambda i: -(states[stations[i].id].alarm if stations[i].id in states else 0)
    )
    order = {stations[i].id: rank for rank, i in enumerate(ranked)}
    views = []
    for sensor in stations:
        assert sensor.alarm_levels_m is not None  # the city loader guarantees it for water stations
        low, high = gauge_scale(sensor.alarm_levels_m, sensor.normal_level_m)
        state = states.get(sensor.id)
        level = state.level_m if state is not None else None
        problem = health_problem(snapshot.health, sensor.id) if snapshot is not None else None
        if level is None or state is None:
            value, badge, status, fill = t("flood.no_reading", lang), "", "unknown", 0.0
        else:
            value = t("flood.metres", lang, value=fmt_number(level, lang, 2))
            badge = t(f"alarm.{state.alarm}", lang) if state.alarm > 0 else ""
            status, fill = alarm_state(state.alarm), _pct(level, low, high)
        if problem:
            badge, status = t(f"health.{problem}", lang), problem
        views.append(GaugeView(sensor.id, value, badge, status, fill, order[sensor.id]))
    return views


def gauge_class(view: GaugeView) -> str:
    """The gauge's class names: the status colours the fill, the badge and the value."""
    return f"wall-gauge wall-gauge--{view.status}"


def flood_gauge(sensor: Sensor, view: GaugeView, lang: str) -> Component:
    """One station: name, level and alarm as text, and a bar with the BĐ I/II/III lines marked and labelled."""
    assert sensor.alarm_levels_m is not None  # the city loader guarantees it for water stations
    low, high = gauge_scale(sensor.alarm_levels_m, sensor.normal_level_m)
    marks = [
        html.Div(
            className=f"wall-gauge-mark wall-gauge-mark--{n}",
            style={"left": f"{_pct(line, low, high)}%"},
            title=f"{t(f'alarm.{n}', lang)}: {fmt_number(line, lang, 2)} m",
            children=html.Span(("I", "II", "III")[n - 1], className="wall-gauge-mark-label"),
        )
        for n, line in enumerate(sensor.alarm_levels_m, start=1)
    ]
    return html.Div(
        id={"type": ids.GAUGE, "station": sensor.id},
        className=gauge_class(view),
        style={"order": view.order},
        children=[
            html.Div(
                className="wall-gauge-head",
                children=[
                    html.Span(sensor.name, className="wall-gauge-name"),
                    html.Span(
                        view.value, id={"type": ids.GAUGE_VALUE, "station": sensor.id}, className="wall-gauge-value"
                    ),
                    html.Span(view.badge, id={"type": ids.GAUGE_BADGE, "station": sensor.id}, className="wall-badge"),
                ],
            ),
            html.Div(
                className="wall-gauge-track",
                children=[
                    html.Div(
                        id={"type": ids.GAUGE_FILL, "station": sensor.id},
                        className="wall-gauge-fill",
                        style={"width": f"{view.fill_pct}%"},
                    ),
                    *marks,
                ],
            ),
        ],
    )


def flood_panel(snapshot: WallSnapshot | None, city: City, lang: str) -> list[Component]:
    """A gauge per water station, in city order; the highest alarm is shown first through CSS `order`."""
    views = gauge_views(snapshot, city, lang)
    return [flood_gauge(s, v, lang) for s, v in zip(city.sensors_of("water_station"), views, strict=True)]
