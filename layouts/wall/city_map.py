"""The wall's live map: the offline basemap, road segments and sensor layers (static geometry sent once with the
page), the per-tick `hideout` each layer's style functions read (assets/wall_map.js), and the legend."""

from __future__ import annotations

from typing import Any, Final

import dash_leaflet as dl
from dash import html
from dash.development.base_component import Component

from ioc.city import City, Sensor, SensorKind
from ioc.i18n import t
from ioc.snapshot import WallSnapshot
from layouts.common import content_bounds, health_problem, segments_geojson, sensors_geojson
from layouts.states import alarm_state, rain_state
from layouts.wall import ids

# Point layers: (component id, sensor kind, layer name text key, clustered).
POINT_LAYERS: Final[tuple[tuple[str, SensorKind, str, bool], ...]] = (
    (ids.CAMERAS, "traffic_camera", "layer.cameras", True),
    (ids.SPEED_CAMERAS, "speed_camera", "layer.speed_cameras", True),
    (ids.STATIONS, "water_station", "layer.stations", False),
    (ids.RAIN_GAUGES, "rain_gauge", "layer.gauges", True),
    (ids.HOTSPOTS, "wifi_hotspot", "layer.hotspots", True),
)
MAP_LAYERS: Final = (ids.SEGMENTS, *(layer[0] for layer in POINT_LAYERS))
FOCUS_ZOOM: Final = 15
OVERVIEW_PADDING: Final = {"padding": [24, 24]}
HOTSPOT_BUSY_SHARE: Final = 0.9
JS_NAMESPACE: Final = "wallMap"
_BAND_RANK: Final = {"unknown": 0, "smooth": 1, "slow": 2, "congested": 3}


def js(name: str) -> dict[str, str]:
    """Reference to a function in assets/wall_map.js, as dash-leaflet resolves functional props."""
    return {"variable": f"{JS_NAMESPACE}.{name}"}


# ---------------------------------------------------------------- per-tick map state


def sensor_state(snapshot: WallSnapshot, sensor: Sensor) -> str:
    """The state a sensor's marker shows: a health problem first, else what it measures."""
    problem = health_problem(snapshot.health, sensor.id)
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
        ids.SEGMENTS: {"state": {sid: s.band for sid, s in snapshot.segments.items() if s.band != "unknown"}}
    }
    for layer_id, kind, _, _ in POINT_LAYERS:
        states = {s.id: sensor_state(snapshot, s) for s in city.sensors_of(kind)}
        result[layer_id] = {"state": {k: v for k, v in states.items() if v != "unknown"}}
    result[ids.STATIONS]["focus"] = focus if focus in city.sensors else None
    return result


def overview_viewport(city: City, transition: str) -> dict[str, Any]:
    """The map's viewport showing the whole city (after a takeover ends, or once a fresh page has its size)."""
    return {"bounds": content_bounds(city), "transition": transition, "options": OVERVIEW_PADDING}


def focus_viewport(lat: float, lon: float) -> dict[str, Any]:
    """The map's viewport flown to one place (a critical alert taking over the wall)."""
    return {"center": [lat, lon], "zoom": FOCUS_ZOOM, "transition": "flyTo"}


# ---------------------------------------------------------------- the map and its legend


def legend(lang: str) -> Component:
    """The colour key under the map: speed bands, flood alarms, offline and unknown."""

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
                id=ids.SEGMENTS,
                data=segments_geojson(city),
                style=js("segmentStyle"),
                hideout={"state": {}},
            ),
            name=t("layer.segments", lang),
            checked=True,
        )
    ]
    for layer_id, kind, name_key, clustered in POINT_LAYERS:
        overlays.append(
            dl.Overlay(
                dl.GeoJSON(
                    id=layer_id,
                    data=sensors_geojson(city.sensors_of(kind)),
                    pointToLayer=js("sensorPoint"),
                    cluster=clustered,
                    clusterToLayer=js("clusterIcon") if clustered else None,
                    superClusterOptions={"radius": 60, "maxZoom": 15} if clustered else None,
                    zoomToBoundsOnClick=False,
                    hideout={"state": {}},
                ),
                name=t(name_key, lang),
                checked=True,
            )
        )
    base: list[Component] = []
    if tile_url:
        base.append(dl.TileLayer(url=tile_url, opacity=0.55))
    base.append(
        dl.Pane(
            dl.GeoJSON(
                data=city.basemap,
                style=js("basemapStyle"),
                pointToLayer=js("basemapPoint"),
                interactive=False,
            ),
            name="wall-basemap",
            style={"zIndex": 250},
        )
    )
    return dl.Map(
        id=ids.MAP,
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
