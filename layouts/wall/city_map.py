"""The wall's live map: the offline basemap, road segments and sensor layers (their geometry fetched once by URL,
callbacks/wall/geometry.py), the state of every feature keyed by id (MapStates) sent as a delta from the version a
browser holds (assets/wall_map.js merges it and restyles only what changed), and the legend. A big city draws its
paths on canvas and clusters every sensor layer (by worst state)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import dash_leaflet as dl
from dash import html
from dash.development.base_component import Component

from ioc.city import City, Sensor, SensorKind
from ioc.i18n import t
from ioc.snapshot import WallSnapshot
from layouts.common import content_bounds, digest, health_problem, segments_geojson, sensors_geojson
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
# From this many segments and sensors together a city is big: paths on one canvas instead of an SVG element each, and
# every sensor layer clustered (water stations too), so the browser draws thousands of features in about a second.
BIG_CITY_FEATURES: Final = 1_000


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


def layer_states(snapshot: WallSnapshot, city: City) -> dict[str, dict[str, str]]:
    """Per map layer, each feature's state by id (unknown left out): what the JS style functions colour by."""
    result: dict[str, dict[str, str]] = {
        ids.SEGMENTS: {sid: s.band for sid, s in snapshot.segments.items() if s.band != "unknown"}
    }
    for layer_id, kind, _, _ in POINT_LAYERS:
        states = {s.id: sensor_state(snapshot, s) for s in city.sensors_of(kind)}
        result[layer_id] = {k: v for k, v in states.items() if v != "unknown"}
    return result


@dataclass(frozen=True)
class MapStates:
    """The whole map's state in one data version: each layer's states by id, the station a takeover focuses on, and
    a content hash naming the two (equal hashes, equal maps, in every process)."""

    layers: dict[str, dict[str, str]]
    focus: str | None
    version: str


def map_states(snapshot: WallSnapshot, city: City, focus: str | None = None) -> MapStates:
    """The map's states for a snapshot (a focus that is no sensor of the city is none)."""
    layers = layer_states(snapshot, city)
    shown_focus = focus if focus in city.sensors else None
    return MapStates(layers=layers, focus=shown_focus, version=digest([layers, shown_focus]))


def map_delta(held: MapStates | None, now: MapStates) -> dict[str, Any]:
    """What a browser holding `held` (None: nothing, or a version this process no longer has) needs to show `now`:
    {"v": now's version, "base": held's version or None (then "layers" is the whole map), "layers": {layer: {id:
    state}} with only the ids whose state differs ("unknown" for one that left), "focus": the focused station}."""
    if held is None:
        return {"v": now.version, "base": None, "layers": now.layers, "focus": now.focus}
    changed: dict[str, dict[str, str]] = {}
    for layer, states in now.layers.items():
        before = held.layers.get(layer, {})
        moved = {fid: state for fid, state in states.items() if before.get(fid) != state}
        moved.update({fid: "unknown" for fid in before if fid not in states})
        if moved:
            changed[layer] = moved
    return {"v": now.version, "base": held.version, "layers": changed, "focus": now.focus}


class MapMemory:
    """The map states of the last `size` versions this process sent, and the deltas between them: a browser holding
    one of them gets only what changed since (worked out once for every screen at that version); one holding a
    version not kept here (too old, or seen by another process) gets the whole map. Bounded, thread-safe; size 0
    keeps nothing (every change is then sent whole)."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._states: OrderedDict[str, MapStates] = OrderedDict()
        self._deltas: OrderedDict[tuple[str | None, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def delta(
        self,
        held_version: str | None,
        now: MapStates,
        *,
        recall: Callable[[str], MapStates | None] | None = None,
        publish: Callable[[MapStates], None] | None = None,
    ) -> str:
        """What a browser holding `held_version` is sent to show `now` (map_delta, as compact JSON), `now` kept for
        later screens. A version not kept here is asked of `recall` (what other processes `publish`ed: each version
        new to this process is handed to it once)."""
        if self.size <= 0:
            return _compact(map_delta(None, now))
        with self._lock:
            new = now.version not in self._states
            self._states[now.version] = now
            self._states.move_to_end(now.version)
            held = self._states.get(held_version) if held_version is not None else None
            self._trim()
        if new and publish is not None:
            publish(now)
        if held is None and held_version is not None and recall is not None:
            held = recall(held_version)
            if held is not None:
                with self._lock:
                    self._states[held.version] = held
                    self._states.move_to_end(now.version)
                    self._trim()
        key = (held.version if held is not None else None, now.version)
        with self._lock:
            kept = self._deltas.get(key)
        if kept is not None:
            return kept
        made = _compact(map_delta(held, now))
        with self._lock:
            self._deltas[key] = made
            self._trim()
        return made

    def _trim(self) -> None:
        while len(self._states) > self.size:
            self._states.popitem(last=False)
        while len(self._deltas) > self.size:
            self._deltas.popitem(last=False)


class MapSource(Protocol):
    """Where a tick gets the map's change for a browser (a MapMemory, with what other processes shared)."""

    def delta(self, held_version: str | None, now: MapStates) -> str:
        """What a browser holding `held_version` is sent to show `now`."""
        ...


def encode_states(states: MapStates) -> str:
    """A version of the map's states as stored for other processes."""
    return _compact({"layers": states.layers, "focus": states.focus})


def decode_states(version: str, raw: str | None) -> MapStates | None:
    """A stored version of the map's states; None when absent or not as written."""
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("layers"), dict):
        return None
    layers = data["layers"]
    if not all(isinstance(v, dict) and all(isinstance(s, str) for s in v.values()) for v in layers.values()):
        return None
    focus = data.get("focus")
    return MapStates(layers=layers, focus=focus if isinstance(focus, str) else None, version=version)


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def big_city(city: City) -> bool:
    """Whether the city is drawn as a big one (see BIG_CITY_FEATURES)."""
    return len(city.segments) + len(city.sensors) >= BIG_CITY_FEATURES


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


def wall_map(city: City, lang: str, tile_url: str, geometry: Mapping[str, str] | None = None) -> list[Component]:
    """The live map: offline basemap underneath, segments and sensor layers on top, each layer switchable. Each
    layer's features come from its URL in `geometry` (callbacks/wall/geometry.py), or inline without one. Before it,
    a hidden element whose `data-delta` the tick sets to the map's change (assets/wall_map.js applies each one as it
    comes: a value the tick's own response carries, so it is never lost between two callbacks), naming the layers
    drawn as clusters (redrawn after a change, not restyled)."""
    (south, west), (north, east) = city.bbox
    big = big_city(city)

    def source(layer_id: str, inline: Any) -> dict[str, Any]:
        url = geometry.get(layer_id) if geometry is not None else None
        return {"url": url} if url else {"data": inline()}

    overlays = [
        dl.Overlay(
            dl.GeoJSON(
                id=ids.SEGMENTS,
                **source(ids.SEGMENTS, lambda: segments_geojson(city)),
                style=js("segmentStyle"),
                onEachFeature=js("register"),
                hideout={"layer": ids.SEGMENTS, "clustered": False, "n": 0},
            ),
            name=t("layer.segments", lang),
            checked=True,
        )
    ]
    for layer_id, kind, name_key, clustered_small in POINT_LAYERS:
        clustered = clustered_small or big

        def points(kind: SensorKind = kind) -> dict[str, Any]:
            return sensors_geojson(city.sensors_of(kind))

        overlays.append(
            dl.Overlay(
                dl.GeoJSON(
                    id=layer_id,
                    **source(layer_id, points),
                    pointToLayer=js("sensorPoint"),
                    onEachFeature=js("register"),
                    cluster=clustered,
                    clusterToLayer=js("clusterIcon") if clustered else None,
                    superClusterOptions={"radius": 60, "maxZoom": 15} if clustered else None,
                    zoomToBoundsOnClick=False,
                    hideout={"layer": layer_id, "clustered": clustered, "n": 0},
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
    drawn_clustered = " ".join(layer_id for layer_id, _, _, small in POINT_LAYERS if small or big)
    carrier = html.Div(id=ids.MAP_DELTA, hidden=True, **{"data-delta": "", "data-clustered": drawn_clustered})  # type: ignore[arg-type]
    return [
        carrier,
        dl.Map(
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
            preferCanvas=big,
            className="wall-leaflet",
            children=[*base, dl.LayersControl(overlays, position="topright", collapsed=True)],
        ),
    ]
