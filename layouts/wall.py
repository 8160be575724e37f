"""The wall display: pure functions from the city and a WallSnapshot to Dash components and per-tick updates.

Nothing here reads Redis or settings. Static geometry goes out once with the page; each tick sends only what
changed: small per-id map states through GeoJSON `hideout`, new chart minutes through `extendData`, and panels
only when their content hash differs from the one this browser already shows (hashes kept in a dcc.Store).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, fields, replace
from datetime import datetime
from functools import cache
from typing import Any, Final
from zoneinfo import ZoneInfo

import dash_leaflet as dl
from dash import dcc, html, no_update
from dash.development.base_component import Component

from ioc.city import City, Sensor, SensorKind
from ioc.i18n import LANGS, TEXTS, fmt_number, t
from ioc.rules import ARTERIAL_BANDS, speed_band
from ioc.snapshot import Alert, Kpis, SpeedSeries, WallSnapshot
from layouts.states import alarm_state, rain_state

# Component ids, each defined once.
ID_ROOT: Final = "wall-root"
ID_INTERVAL: Final = "wall-interval"
ID_LANG: Final = "wall-lang"
ID_CLIENT: Final = "wall-client"
ID_HEARTBEAT: Final = "wall-heartbeat"
ID_ALARM: Final = "wall-alarm"
ID_CLOCK: Final = "wall-clock"
ID_KPIS: Final = "wall-kpis"
# Pattern-matching id types: {"type": ID_KPI_VALUE, "kpi": key}, {"type": ID_GAUGE_FILL, "station": sensor id}, ...
ID_KPI: Final = "wall-kpi"
ID_KPI_VALUE: Final = "wall-kpi-value"
ID_KPI_SUB: Final = "wall-kpi-sub"
ID_GAUGE: Final = "wall-gauge"
ID_GAUGE_VALUE: Final = "wall-gauge-value"
ID_GAUGE_BADGE: Final = "wall-gauge-badge"
ID_GAUGE_FILL: Final = "wall-gauge-fill"
ID_MAP: Final = "wall-map"
ID_SEGMENTS: Final = "wall-segments"
ID_CAMERAS: Final = "wall-cameras"
ID_SPEED_CAMERAS: Final = "wall-speed-cameras"
ID_STATIONS: Final = "wall-stations"
ID_RAIN_GAUGES: Final = "wall-rain-gauges"
ID_HOTSPOTS: Final = "wall-hotspots"
ID_CHART: Final = "wall-chart"
ID_FLOOD: Final = "wall-flood"
ID_ALERTS: Final = "wall-alerts"
ID_STALE: Final = "wall-stale"
ID_STALE_CLIENT: Final = "wall-stale-client"
ID_TAKEOVER: Final = "wall-takeover"

# Point layers: (component id, sensor kind, layer name text key, clustered).
POINT_LAYERS: Final[tuple[tuple[str, SensorKind, str, bool], ...]] = (
    (ID_CAMERAS, "traffic_camera", "layer.cameras", True),
    (ID_SPEED_CAMERAS, "speed_camera", "layer.speed_cameras", True),
    (ID_STATIONS, "water_station", "layer.stations", False),
    (ID_RAIN_GAUGES, "rain_gauge", "layer.gauges", True),
    (ID_HOTSPOTS, "wifi_hotspot", "layer.hotspots", True),
)
MAP_LAYERS: Final = (ID_SEGMENTS, *(layer[0] for layer in POINT_LAYERS))
# KPI tiles in strip order: (key, label text key, unit text key).
KPI_TILES: Final = (
    ("sensors", "kpi.sensors_online", ""),
    ("speed", "kpi.city_speed", "kpi.kmh"),
    ("congested", "kpi.congested", ""),
    ("flood", "kpi.flood", ""),
    ("alerts", "kpi.alerts", ""),
    ("deadletters", "kpi.deadletters", ""),
)

CHART_WINDOW_MINUTES: Final = 60
CHART_TOP_N: Final = 5
CHART_RECHOOSE_S: Final = 600.0  # the most congested segments are chosen again at most this often
FOCUS_ZOOM: Final = 15
OVERVIEW_PADDING: Final = {"padding": [24, 24]}
MAX_ALERTS: Final = 4  # alert list rows; more active alerts show as one "+N more" row, so the wall stays glanceable
SEVERITY_RANK: Final = {"critical": 2, "warning": 1, "info": 0}
HOTSPOT_BUSY_SHARE: Final = 0.9
SEGMENT_COLOURS: Final = ("#E69F00", "#56B4E9", "#F0E442", "#CC79A7", "#009E73", "#D55E00")  # Okabe–Ito
BAND_FILL: Final = {"congested": "rgba(255,77,109,0.16)", "slow": "rgba(255,210,63,0.10)"}
JS_NAMESPACE: Final = "wallMap"


def js(name: str) -> dict[str, str]:
    """Reference to a function in assets/wall_map.js, as dash-leaflet resolves functional props."""
    return {"variable": f"{JS_NAMESPACE}.{name}"}


def digest(value: object) -> str:
    """A short content hash that is the same in every worker process (unlike hash())."""
    data = json.dumps(value, sort_keys=True, default=repr, ensure_ascii=False).encode()
    return hashlib.blake2b(data, digest_size=6).hexdigest()


def local_time(ts: float | None, tz: str, fmt: str = "%H:%M") -> str:
    """Epoch seconds as wall-clock text in the city's time zone."""
    if ts is None:
        return "--:--"
    return datetime.fromtimestamp(ts, _zone(tz)).strftime(fmt)


@cache
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def segment_name(city: City, segment_id: str) -> str:
    """A short name for a road segment: its road and its place along the road, e.g. "Phan Châu Trinh (3)"."""
    segment = city.segments.get(segment_id)
    if segment is None:
        return segment_id
    same_road = [s.id for s in city.segments.values() if s.road == segment.road]
    return f"{segment.road} ({same_road.index(segment_id) + 1})" if len(same_road) > 1 else segment.road


def place_name(city: City, place: str) -> str:
    """A human name for a sensor or road segment id, with the ward for segments (the id if unknown)."""
    sensor = city.sensors.get(place)
    if sensor is not None:
        return sensor.name
    segment = city.segments.get(place)
    if segment is not None:
        ward = city.wards.get(segment.ward)
        return f"{segment_name(city, place)} · {ward.name}" if ward else segment_name(city, place)
    return place


# ---------------------------------------------------------------- static map data


def content_bounds(city: City) -> list[list[float]]:
    """The [[south, west], [north, east]] box around every segment and sensor: what the wall's map shows at rest."""
    points = [p for s in city.segments.values() for p in s.coords] + [(s.lat, s.lon) for s in city.sensors.values()]
    if not points:
        (south, west), (north, east) = city.bbox
        return [[south, west], [north, east]]
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def segments_geojson(city: City) -> dict[str, Any]:
    """Road segments as GeoJSON lines carrying only their id and a tooltip; styles come from the hideout."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[round(x, 6), round(y, 6)] for y, x in s.coords]},
            "properties": {"id": s.id, "tooltip": place_name(city, s.id)},
        }
        for s in city.segments.values()
    ]
    return {"type": "FeatureCollection", "features": features}


def sensors_geojson(sensors: Iterable[Sensor]) -> dict[str, Any]:
    """Sensors as GeoJSON points with id, kind and name."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(s.lon, 6), round(s.lat, 6)]},
            "properties": {"id": s.id, "kind": s.kind, "name": s.name, "tooltip": s.name},
        }
        for s in sensors
    ]
    return {"type": "FeatureCollection", "features": features}


# ---------------------------------------------------------------- per-tick map state


def _health_problem(snapshot: WallSnapshot, sensor_id: str) -> str | None:
    health = snapshot.health.get(sensor_id)
    return health if health in ("offline", "fault") else None


_BAND_RANK: Final = {"unknown": 0, "smooth": 1, "slow": 2, "congested": 3}


def sensor_state(snapshot: WallSnapshot, sensor: Sensor) -> str:
    """The state a sensor's marker shows: a health problem first, else what it measures."""
    problem = _health_problem(snapshot, sensor.id)
    if problem:
        return problem
    if sensor.kind == "traffic_camera":
        bands = [snapshot.segments[s].band for s in sensor.segments if s in snapshot.segments]
        return max(bands, key=lambda b: _BAND_RANK[b]) if bands else "unknown"
    if sensor.kind == "water_station":
        station = snapshot.stations.get(sensor.id)
        return alarm_state(station.alarm) if station is not None and station.level_m is not None else "unknown"
    if sensor.kind == "rain_gauge":
        gauge = snapshot.gauges.get(sensor.id)
        return rain_state(gauge.rain_class) if gauge is not None else "unknown"
    if sensor.kind == "wifi_hotspot":
        hotspot = snapshot.hotspots.get(sensor.id)
        if hotspot is None:
            return "unknown"
        capacity = sensor.capacity_clients or 0
        return "busy" if capacity and hotspot.clients >= HOTSPOT_BUSY_SHARE * capacity else "ok"
    return "ok" if snapshot.health.get(sensor.id) == "online" else "unknown"


def hideouts(snapshot: WallSnapshot, city: City, focus: str | None = None) -> dict[str, dict[str, Any]]:
    """Per map layer, the small `hideout` the JS style functions read: {"state": {id: state}} (unknown left out)."""
    result: dict[str, dict[str, Any]] = {
        ID_SEGMENTS: {"state": {sid: s.band for sid, s in snapshot.segments.items() if s.band != "unknown"}}
    }
    for layer_id, kind, _, _ in POINT_LAYERS:
        states = {s.id: sensor_state(snapshot, s) for s in city.sensors_of(kind)}
        result[layer_id] = {"state": {k: v for k, v in states.items() if v != "unknown"}}
    result[ID_STATIONS]["focus"] = focus if focus in city.sensors else None
    return result


# ---------------------------------------------------------------- KPI strip

CITY_ROAD_CLASS: Final = "arterial"  # the class whose bands judge the city-wide mean speed


@dataclass(frozen=True)
class KpiView:
    """What one KPI tile shows: its value, a line under it, and a state that colours it."""

    key: str
    value: str
    sub: str
    state: str


def kpi_views(kpis: Kpis | None, city: City, lang: str) -> list[KpiView]:
    """The six KPI tiles' contents, in KPI_TILES order; with no data yet every value shows a dash."""
    if kpis is None:
        return [KpiView(key, t("kpi.no_value", lang), "", "none") for key, _, _ in KPI_TILES]
    share_online = kpis.sensors_online / kpis.sensors_total if kpis.sensors_total else 1.0
    speed = kpis.city_speed_kmh
    band = speed_band(speed, CITY_ROAD_CLASS)  # the city mean, judged as an arterial
    congested_share = kpis.congested_segments / kpis.segments_total if kpis.segments_total else 0.0
    station = city.sensors.get(kpis.highest_flood_station or "")
    flood_sub = (
        t("kpi.at_station", lang, station=station.name)
        if station is not None and kpis.highest_flood_alarm > 0
        else t("kpi.all_stations", lang)
    )
    return [
        KpiView("sensors", str(kpis.sensors_online), t("kpi.of_total", lang, total=kpis.sensors_total),
                "ok" if share_online >= 0.95 else "warn" if share_online >= 0.8 else "bad"),
        KpiView("speed", fmt_number(speed, lang), t(f"band.{band}", lang),
                {"unknown": "none", "congested": "bad", "slow": "warn", "smooth": "ok"}[band]),
        KpiView("congested", str(kpis.congested_segments), t("kpi.of_total", lang, total=kpis.segments_total),
                "ok" if kpis.congested_segments == 0 else "warn" if congested_share < 0.1 else "bad"),
        KpiView("flood", t(f"alarm.short.{kpis.highest_flood_alarm}", lang), flood_sub,
                alarm_state(kpis.highest_flood_alarm)),
        KpiView("alerts", str(kpis.active_alerts), t("kpi.alerts_hint", lang),
                "ok" if kpis.active_alerts == 0 else "warn"),
        KpiView("deadletters", str(kpis.deadletters), t("kpi.deadletters_hint", lang),
                "ok" if kpis.deadletters == 0 else "warn"),
    ]  # fmt: skip


def kpi_class(view: KpiView) -> str:
    """The tile's class names: its state colours the edge and, for alarms, the value."""
    return f"wall-kpi wall-kpi--{view.state}"


def kpi_tile(view: KpiView, label: str, unit: str) -> Component:
    """One KPI tile; value, sub-line and class are updated in place by the tick (pattern-matching ids)."""
    return html.Div(
        id={"type": ID_KPI, "kpi": view.key},
        className=kpi_class(view),
        children=[
            html.Div(label, className="wall-kpi-label"),
            html.Div(
                [
                    html.Span(view.value, id={"type": ID_KPI_VALUE, "kpi": view.key}, className="wall-kpi-value"),
                    html.Span(unit, className="wall-kpi-unit"),
                ],
                className="wall-kpi-main",
            ),
            html.Div(view.sub, id={"type": ID_KPI_SUB, "kpi": view.key}, className="wall-kpi-sub"),
        ],
    )


def kpi_strip(kpis: Kpis | None, city: City, lang: str) -> list[Component]:
    """The six KPI tiles."""
    views = kpi_views(kpis, city, lang)
    return [
        kpi_tile(view, t(label, lang), t(unit, lang) if unit else "")
        for view, (_, label, unit) in zip(views, KPI_TILES, strict=True)
    ]


# ---------------------------------------------------------------- flood panel


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
        problem = _health_problem(snapshot, sensor.id) if snapshot is not None else None
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
        id={"type": ID_GAUGE, "station": sensor.id},
        className=gauge_class(view),
        style={"order": view.order},
        children=[
            html.Div(
                className="wall-gauge-head",
                children=[
                    html.Span(sensor.name, className="wall-gauge-name"),
                    html.Span(
                        view.value, id={"type": ID_GAUGE_VALUE, "station": sensor.id}, className="wall-gauge-value"
                    ),
                    html.Span(view.badge, id={"type": ID_GAUGE_BADGE, "station": sensor.id}, className="wall-badge"),
                ],
            ),
            html.Div(
                className="wall-gauge-track",
                children=[
                    html.Div(
                        id={"type": ID_GAUGE_FILL, "station": sensor.id},
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


def alert_value(kind: str, value: str, lang: str) -> str:
    """An alert's old or new value in words: alarm levels, congestion, rain classes and device health."""
    if kind == "flood.level.changed" and value.isdigit():
        return t(f"alarm.short.{value}", lang)
    if kind == "traffic.congestion.changed":
        return t(f"alerts.value.{value}", lang)
    if kind == "flood.rain.changed":
        return t(f"rain.{value}", lang)
    if kind == "device.health.changed":
        return t(f"health.{value}", lang)
    return value


def alert_change(alert: Alert, lang: str) -> str:
    """What an alert says happened, in words: "old → new" for a change, the state alone for an active alert."""
    new = alert_value(alert.kind, alert.new, lang)
    return f"{alert_value(alert.kind, alert.old, lang)} → {new}" if alert.old else new


def alert_list(alerts: Sequence[Alert], city: City, lang: str, limit: int = MAX_ALERTS) -> list[Component]:
    """The alerts in the order given, at most `limit` rows, the last "+N more" if needed; coloured by severity."""
    if not alerts:
        return [html.Li(t("alerts.none", lang), className="wall-alert wall-alert--empty")]
    shown = alerts if len(alerts) <= limit else alerts[: max(limit - 1, 0)]  # the "+N more" row takes the last
    items: list[Component] = []
    for alert in shown:
        kind_key = f"alerts.kind.{alert.kind}" if f"alerts.kind.{alert.kind}" in TEXTS else "alerts.kind.other"
        items.append(
            html.Li(
                className=f"wall-alert wall-alert--{alert.severity}",
                children=[
                    html.Span(local_time(alert.ts, city.timezone), className="wall-alert-time"),
                    html.Span(t(kind_key, lang), className="wall-alert-kind"),
                    html.Span(place_name(city, alert.place), className="wall-alert-place"),
                    html.Span(alert_change(alert, lang), className="wall-alert-change"),
                ],
            )
        )
    if len(shown) < len(alerts):
        more = t("alerts.more", lang, count=len(alerts) - len(shown))
        items.append(html.Li(more, className="wall-alert wall-alert--more"))
    return items


def _flood_level(alert: Alert) -> int:
    return int(alert.new) if alert.kind == "flood.level.changed" and alert.new.isdigit() else 0


def active_alerts(snapshot: WallSnapshot) -> list[Alert]:
    """Every active alert the KPI counts, most severe first (BĐ III; BĐ II before BĐ I among warnings), then newest."""
    return sorted(
        snapshot.active_alerts, key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), -_flood_level(a), -a.ts, a.id)
    )


# ---------------------------------------------------------------- banners


def stale_banner(snapshot: WallSnapshot, lang: str) -> Component | None:
    """The stale-data banner when the snapshot says so, else nothing (it leaves by itself)."""
    if not snapshot.stale:
        return None
    if snapshot.stale_reason == "redis":
        text = t("stale.redis", lang)
    elif snapshot.last_event_age_s is None:
        text = t("stale.no_data_ever", lang)
    else:
        text = t("stale.no_data", lang, seconds=int(snapshot.last_event_age_s))
    return html.Div(text, className="wall-banner wall-banner--stale", role="status")


def takeover_banner(snapshot: WallSnapshot, city: City, lang: str) -> Component | None:
    """The critical-alert banner while any critical alert is active: the newest one in words, and how many more."""
    if not snapshot.critical_alerts:
        return None
    alert = snapshot.critical_alerts[0]
    when = local_time(alert.ts, city.timezone)
    station = snapshot.stations.get(alert.place)
    if alert.kind == "flood.level.changed" and station is not None:
        text = t(
            "takeover.flood", lang, level=t(f"alarm.{alert.new}", lang) if alert.new.isdigit() else alert.new,
            place=place_name(city, alert.place), value=fmt_number(station.level_m, lang, 2), time=when,
        )  # fmt: skip
    else:
        text = t("takeover.generic", lang, place=place_name(city, alert.place), time=when)
    more = len(snapshot.critical_alerts) - 1
    return html.Div(
        className="wall-banner wall-banner--critical",
        role="alert",
        children=[
            html.Span(t("takeover.heading", lang), className="wall-banner-heading"),
            html.Span(text, className="wall-banner-text"),
            html.Span(t("takeover.more", lang, count=more), className="wall-banner-more") if more > 0 else None,
        ],
    )


# ---------------------------------------------------------------- speed chart


def chart_x(minute: int, tz: str) -> int:
    """A minute as the chart's x: milliseconds on the city's wall clock (plotly draws epoch ms as UTC, so the
    offset is added), numbers rather than date strings to keep the first tick small."""
    offset = _zone(tz).utcoffset(datetime.fromtimestamp(minute * 60, _zone(tz)))
    return (minute * 60 + int(offset.total_seconds() if offset else 0)) * 1000


def _speeds(values: Iterable[float | None]) -> list[float | None]:
    return [None if v is None else round(v, 1) for v in values]


def speed_figure(series: SpeedSeries | None, city: City, lang: str) -> dict[str, Any]:
    """The rolling speed chart as a plain-list figure (appendable): city average and the chosen segments."""
    minutes = series.minutes if series is not None else []
    x = [chart_x(m, city.timezone) for m in minutes]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter", "mode": "lines", "name": t("chart.city_avg", lang), "x": x,
            "y": _speeds(series.city_avg) if series is not None else [],
            "line": {"color": "#ffffff", "width": 5}, "connectgaps": False,
        }
    ]  # fmt: skip
    segments = series.segments if series is not None else {}
    for i, (segment_id, values) in enumerate(segments.items()):
        data.append(
            {
                "type": "scatter", "mode": "lines", "name": segment_name(city, segment_id), "x": list(x),
                "y": _speeds(values), "line": {"color": SEGMENT_COLOURS[i % len(SEGMENT_COLOURS)], "width": 3},
            }
        )  # fmt: skip
    congested, slow = ARTERIAL_BANDS
    axis = {"gridcolor": "#2c3440", "zerolinecolor": "#2c3440", "linecolor": "#5b6675", "tickfont": {"size": 16}}
    layout: dict[str, Any] = {
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": "#e8edf3", "size": 16, "family": "Inter, Roboto, 'Noto Sans', 'Liberation Sans', sans-serif"},
        "margin": {"l": 48, "r": 12, "t": 4, "b": 28},
        "showlegend": True,
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom",
                   "font": {"size": 15}, "itemwidth": 30, "tracegroupgap": 0},
        "xaxis": {**axis, "type": "date", "tickformat": "%H:%M"},
        "yaxis": {**axis, "rangemode": "tozero", "title": {"text": "km/h", "font": {"size": 15}}},
        "shapes": [
            {"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": 0, "y1": congested,
             "fillcolor": BAND_FILL["congested"], "line": {"width": 0}, "layer": "below"},
            {"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": congested, "y1": slow,
             "fillcolor": BAND_FILL["slow"], "line": {"width": 0}, "layer": "below"},
        ],
        "uirevision": "wall",
    }  # fmt: skip
    if not minutes:
        layout["xaxis"]["showticklabels"] = False
        layout["annotations"] = [
            {"text": t("chart.no_data", lang), "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
             "showarrow": False, "font": {"size": 22, "color": "#aeb8c4"}}
        ]  # fmt: skip
    return {"data": data, "layout": layout}


def speed_extension(series: SpeedSeries, segment_ids: Sequence[str], city: City) -> list[Any] | None:
    """extendData for new minutes: [{"x": [...], "y": [...]}, trace indices, window]; None when nothing is new."""
    if not series.minutes:
        return None
    x = [chart_x(m, city.timezone) for m in series.minutes]
    blank: list[float | None] = [None] * len(x)
    ys = [_speeds(series.city_avg), *(_speeds(series.segments.get(s, blank)) for s in segment_ids)]
    return [{"x": [list(x) for _ in ys], "y": ys}, list(range(len(ys))), CHART_WINDOW_MINUTES]


# ---------------------------------------------------------------- per-browser state and the tick


@dataclass(frozen=True)
class ChartQuery:
    """What the speed reader should be asked this tick: everything afresh, or the minutes after the last one shown."""

    rebuild: bool
    since_minute: int | None
    segment_ids: tuple[str, ...] | None


@dataclass(frozen=True)
class ClientState:
    """What this browser already shows, kept in its dcc.Store: section hashes, chart position, alerts seen."""

    versions: dict[str, str]
    chart_minute: int | None = None
    chart_segments: tuple[str, ...] = ()
    chart_chosen_at: float | None = None
    seen: tuple[str, ...] = ()
    focus: str | None = None

    @classmethod
    def from_store(cls, data: object) -> ClientState:
        """Parse the store's JSON; anything malformed (or a fresh page) starts from nothing."""
        if not isinstance(data, Mapping):
            return cls(versions={})
        chart = data.get("chart") if isinstance(data.get("chart"), Mapping) else {}
        assert isinstance(chart, Mapping)
        versions = data.get("v")
        minute, chosen_at, focus = chart.get("minute"), chart.get("chosen_at"), data.get("focus")
        return cls(
            versions={str(k): str(v) for k, v in versions.items()} if isinstance(versions, Mapping) else {},
            chart_minute=minute if isinstance(minute, int) else None,
            chart_segments=tuple(str(s) for s in chart.get("segments", ()) if isinstance(s, str)),
            chart_chosen_at=float(chosen_at) if isinstance(chosen_at, int | float) else None,
            seen=tuple(str(s) for s in data.get("seen", ()) if isinstance(s, str)),
            focus=focus if isinstance(focus, str) else None,
        )

    def to_store(self) -> dict[str, Any]:
        """The JSON kept in the browser."""
        return {
            "v": self.versions,
            "chart": {"minute": self.chart_minute, "segments": list(self.chart_segments),
                      "chosen_at": self.chart_chosen_at},
            "seen": list(self.seen),
            "focus": self.focus,
        }  # fmt: skip


def chart_query(client: ClientState, now: float) -> ChartQuery:
    """Rebuild the chart (and choose the slowest segments again) at first, when empty, or every ten minutes."""
    stale_choice = client.chart_chosen_at is None or now - client.chart_chosen_at >= CHART_RECHOOSE_S
    if client.chart_minute is None or not client.chart_segments or stale_choice:
        return ChartQuery(rebuild=True, since_minute=None, segment_ids=None)
    return ChartQuery(rebuild=False, since_minute=client.chart_minute, segment_ids=client.chart_segments)


def clock_children(snapshot: WallSnapshot, city: City, lang: str) -> list[Component | str]:
    """The city clock, and a badge while the namespace runs on a simulator's clock (so no one takes a training
    run or a demo for the real city)."""
    time_text = local_time(snapshot.clock, city.timezone, "%H:%M:%S")
    if snapshot.simulated_speed is None:
        return [time_text]
    badge = html.Span(t("wall.simulated", lang, speed=f"{snapshot.simulated_speed:g}"), className="wall-sim-badge",
                      title=t("wall.simulated_hint", lang))  # fmt: skip
    return [time_text, badge]


@dataclass(frozen=True)
class TickUpdate:
    """The tick callback's outputs, in order; `no_update` wherever this browser already shows the same thing."""

    clock: Any
    kpi_values: Any
    kpi_subs: Any
    kpi_classes: Any
    segments_hideout: Any
    cameras_hideout: Any
    speed_cameras_hideout: Any
    stations_hideout: Any
    rain_gauges_hideout: Any
    hotspots_hideout: Any
    chart_figure: Any
    chart_extend: Any
    gauge_values: Any
    gauge_fills: Any
    gauge_badges: Any
    gauge_classes: Any
    gauge_orders: Any
    alerts: Any
    stale: Any
    takeover: Any
    viewport: Any
    alarm: Any
    client: Any
    heartbeat: Any

    def outputs(self) -> tuple[Any, ...]:
        """The values as the tuple Dash expects."""
        return tuple(getattr(self, f.name) for f in fields(self))


def build_tick(
    snapshot: WallSnapshot,
    series: SpeedSeries | None,
    query: ChartQuery,
    city: City,
    lang: str,
    client: ClientState,
    now: float,
) -> TickUpdate:
    """Everything one tick sends to a browser, given what it already shows; pure, so tests call it directly."""
    redis_down = snapshot.stale and snapshot.stale_reason == "redis"
    versions = dict(client.versions)

    def changed(section: str, key: object, build: Any) -> Any:
        """The built value if its content hash differs from the browser's, else no_update."""
        if redis_down and section not in ("stale", "takeover"):
            return no_update  # keep showing the last known figures under the banner
        h = digest([lang, key])
        if versions.get(section) == h:
            return no_update
        versions[section] = h
        return build()

    # Critical alerts: new ones (not seen by this browser) take over the map and sound the alarm.
    active_ids = [a.id for a in snapshot.critical_alerts]
    new_critical = [a for a in snapshot.critical_alerts if a.id not in client.seen]
    viewport: Any = no_update
    alarm: Any = no_update
    focus = client.focus
    if new_critical and not redis_down:
        target = new_critical[0]
        focus = target.place
        viewport = {"center": [target.lat, target.lon], "zoom": FOCUS_ZOOM, "transition": "flyTo"}
        alarm = {"id": target.id, "at": now}
    elif not snapshot.critical_alerts and focus is not None and not redis_down:
        focus = None
        viewport = {"bounds": content_bounds(city), "transition": "flyToBounds", "options": OVERVIEW_PADDING}
    elif not client.versions:
        # A fresh page: fit the city again now that the page has its final size (the map was sized before).
        viewport = {"bounds": content_bounds(city), "transition": "fitBounds", "options": OVERVIEW_PADDING}
    # Only active ids need remembering: an alert that ends never comes back under the same id.
    seen = client.seen if redis_down else tuple(active_ids)

    layer_states = hideouts(snapshot, city, focus)
    hideout_values = [changed(layer, layer_states[layer], lambda v=layer_states[layer]: v) for layer in MAP_LAYERS]

    # The chart: a full figure on rebuild, else only the new completed minutes.
    figure: Any = no_update
    extend: Any = no_update
    chart_minute, chart_segments, chosen_at = client.chart_minute, client.chart_segments, client.chart_chosen_at
    if series is not None and not redis_down:
        if query.rebuild:
            content = [series.minutes, series.city_avg, series.segments]
            figure = changed("chart", content, lambda: speed_figure(series, city, lang))
            chart_segments = tuple(series.segments)
            chart_minute = series.minutes[-1] if series.minutes else None
            chosen_at = now if series.minutes else None
        elif series.minutes:
            extend = speed_extension(series, chart_segments, city)
            chart_minute = series.minutes[-1]

    kpis = kpi_views(snapshot.kpis, city, lang)
    gauges = gauge_views(snapshot, city, lang)
    alerts = active_alerts(snapshot)
    alerts_key = [[a.id, a.new, a.severity] for a in alerts[:MAX_ALERTS]] + [len(alerts)]

    def items(section: str, values: list[Any]) -> list[Any]:
        """A wildcard (ALL) output: the whole list when it changed, else no_update for each item."""
        result = changed(section, values, lambda: values)
        return [no_update] * len(values) if result is no_update else values

    update = TickUpdate(
        clock=changed("clock", [snapshot.clock, snapshot.simulated_speed],
                      lambda: clock_children(snapshot, city, lang)),
        kpi_values=items("kpi-values", [k.value for k in kpis]),
        kpi_subs=items("kpi-subs", [k.sub for k in kpis]),
        kpi_classes=items("kpi-classes", [kpi_class(k) for k in kpis]),
        segments_hideout=hideout_values[0],
        cameras_hideout=hideout_values[1],
        speed_cameras_hideout=hideout_values[2],
        stations_hideout=hideout_values[3],
        rain_gauges_hideout=hideout_values[4],
        hotspots_hideout=hideout_values[5],
        chart_figure=figure,
        chart_extend=extend,
        gauge_values=items("gauge-values", [g.value for g in gauges]),
        gauge_fills=items("gauge-fills", [{"width": f"{g.fill_pct}%"} for g in gauges]),
        gauge_badges=items("gauge-badges", [g.badge for g in gauges]),
        gauge_classes=items("gauge-classes", [gauge_class(g) for g in gauges]),
        gauge_orders=items("gauge-orders", [{"order": g.order} for g in gauges]),
        alerts=changed("alerts", alerts_key, lambda: alert_list(alerts, city, lang)),
        stale=changed("stale", _stale_key(snapshot), lambda: stale_banner(snapshot, lang)),
        takeover=changed("takeover", _takeover_key(snapshot), lambda: takeover_banner(snapshot, city, lang)),
        viewport=viewport,
        alarm=alarm,
        client=None,
        heartbeat=round(now, 3),
    )
    new_client = ClientState(
        versions=versions, chart_minute=chart_minute, chart_segments=chart_segments, chart_chosen_at=chosen_at,
        seen=seen, focus=focus,
    )  # fmt: skip
    client_out = new_client.to_store() if new_client != client else no_update
    return replace(update, client=client_out)


def _stale_key(snapshot: WallSnapshot) -> list[Any]:
    """What the stale banner shows: whether, why, and the age in whole seconds."""
    age = int(snapshot.last_event_age_s) if snapshot.stale and snapshot.last_event_age_s is not None else None
    return [snapshot.stale, snapshot.stale_reason, age]


def _takeover_key(snapshot: WallSnapshot) -> list[Any]:
    """What the takeover banner shows: the newest critical alert, its station's reading, how many there are."""
    if not snapshot.critical_alerts:
        return []
    alert = snapshot.critical_alerts[0]
    station = snapshot.stations.get(alert.place)
    return [astuple(alert), astuple(station) if station else None, len(snapshot.critical_alerts)]


# ---------------------------------------------------------------- the page


def _legend(lang: str) -> Component:
    def row(cls: str, key: str) -> Component:
        return html.Li([html.Span(className=f"wall-swatch {cls}"), t(key, lang)])

    return html.Div(
        className="wall-legend",
        children=[
            html.Ul(
                [
                    row("wall-swatch--smooth", "band.smooth"),
                    row("wall-swatch--slow", "band.slow"),
                    row("wall-swatch--congested", "band.congested"),
                ]
            ),
            html.Ul(
                [
                    row("wall-swatch--a1", "alarm.1"),
                    row("wall-swatch--a2", "alarm.2"),
                    row("wall-swatch--a3", "alarm.3"),
                    row("wall-swatch--offline", "legend.offline"),
                    row("wall-swatch--unknown", "band.unknown"),
                ]
            ),
        ],
    )


def wall_map(city: City, lang: str, tile_url: str) -> dl.Map:
    """The live map: offline basemap underneath, segments and sensor layers on top, each layer switchable."""
    (south, west), (north, east) = city.bbox
    overlays = [
        dl.Overlay(
            dl.GeoJSON(
                id=ID_SEGMENTS, data=segments_geojson(city), style=js("segmentStyle"), hideout={"state": {}},
            ),
            name=t("layer.segments", lang), checked=True,
        )
    ]  # fmt: skip
    for layer_id, kind, name_key, clustered in POINT_LAYERS:
        overlays.append(
            dl.Overlay(
                dl.GeoJSON(
                    id=layer_id, data=sensors_geojson(city.sensors_of(kind)), pointToLayer=js("sensorPoint"),
                    cluster=clustered, clusterToLayer=js("clusterIcon") if clustered else None,
                    superClusterOptions={"radius": 60, "maxZoom": 15} if clustered else None,
                    zoomToBoundsOnClick=False, hideout={"state": {}},
                ),
                name=t(name_key, lang), checked=True,
            )
        )  # fmt: skip
    base: list[Component] = []
    if tile_url:
        base.append(dl.TileLayer(url=tile_url, opacity=0.55))
    base.append(
        dl.Pane(
            dl.GeoJSON(
                data=city.basemap, style=js("basemapStyle"), pointToLayer=js("basemapPoint"), interactive=False,
            ),
            name="wall-basemap", style={"zIndex": 250},
        )
    )  # fmt: skip
    return dl.Map(
        id=ID_MAP,
        center=list(city.center),
        zoom=city.zoom,
        bounds=content_bounds(city),
        boundsOptions=OVERVIEW_PADDING,
        zoomSnap=0.25,
        minZoom=11,
        maxBounds=[[south - 0.05, west - 0.05], [north + 0.05, east + 0.05]],
        zoomControl=False,
        attributionControl=bool(tile_url),
        trackViewport=False,
        className="wall-leaflet",
        children=[*base, dl.LayersControl(overlays, position="topright", collapsed=True)],
    )


def layout(city: City, *, lang: str, refresh_ms: int, tile_url: str = "") -> Component:
    """The whole wall page; data arrives with the first tick, so this needs only the city and settings."""
    title = t("wall.title", lang, city=city.name if lang == "vi" else city.name_en)
    switch = html.Nav(
        className="wall-lang",
        title=t("wall.language", lang),
        children=[
            html.A(
                code.upper(), href=f"?lang={code}", className=f"wall-lang-link{' is-active' if code == lang else ''}"
            )
            for code in LANGS
        ],
    )
    return html.Div(
        id=ID_ROOT,
        className="wall",
        lang=lang,
        children=[
            dcc.Interval(id=ID_INTERVAL, interval=refresh_ms),
            dcc.Store(id=ID_LANG, data=lang),
            dcc.Store(id=ID_CLIENT, data=None),
            dcc.Store(id=ID_HEARTBEAT, data=None),
            dcc.Store(id=ID_ALARM, data=None),
            html.Header(
                className="wall-header",
                children=[
                    html.H1(title, className="wall-title"),
                    html.Div(
                        className="wall-clock-box",
                        children=[
                            html.Span(t("wall.city_time", lang), className="wall-clock-label"),
                            html.Span(t("wall.no_time", lang), id=ID_CLOCK, className="wall-clock"),
                        ],
                    ),
                    switch,
                ],
            ),
            html.Div(
                className="wall-banners",
                children=[
                    html.Div(id=ID_TAKEOVER, className="wall-takeover"),
                    html.Div(id=ID_STALE, className="wall-stale"),
                    html.Div(
                        t("stale.server", lang),
                        id=ID_STALE_CLIENT,
                        className="wall-banner wall-banner--stale is-hidden",
                        role="status",
                    ),
                ],
            ),
            html.Section(kpi_strip(None, city, lang), id=ID_KPIS, className="wall-kpis"),
            html.Main(
                className="wall-main",
                children=[
                    html.Div(className="wall-map-wrap", children=[wall_map(city, lang, tile_url), _legend(lang)]),
                    html.Div(
                        className="wall-side",
                        children=[
                            html.Section(
                                className="wall-panel wall-panel--chart",
                                children=[
                                    html.H2(t("chart.title", lang), className="wall-panel-title"),
                                    dcc.Graph(
                                        id=ID_CHART,
                                        figure=speed_figure(None, city, lang),
                                        config={"displayModeBar": False, "staticPlot": True, "responsive": True},
                                        className="wall-chart",
                                    ),
                                ],
                            ),
                            html.Section(
                                className="wall-panel wall-panel--flood",
                                children=[
                                    html.H2(t("flood.title", lang), className="wall-panel-title"),
                                    html.Div(flood_panel(None, city, lang), id=ID_FLOOD, className="wall-flood-gauges"),
                                    html.H2(t("alerts.title", lang), className="wall-panel-title"),
                                    html.Ul(alert_list([], city, lang), id=ID_ALERTS, className="wall-alerts"),
                                ],
                            ),
                        ],
                    ),
                ],
            ),
        ],
    )
