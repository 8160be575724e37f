"""Wall callbacks: one server tick that reads the snapshot and sends only what changed (polled, or at once when the
push stream rings), and three clientside helpers (the watchdog, the alarm tone, the push stream's listener).

The tick reads the namespace of whoever is signed in (`callbacks.auth.workspace`): live, or for a trainee the
exercise's own (a display token: always live); the browser's state names the namespace it was read from, so a switch
repaints everything. The tick is the page's only server round trip per refresh; its response stays small because the
layout builder returns `no_update` for every section this browser already shows. Its outputs are matched by name:
each field of layouts.wall.tick.TickUpdate has its component property in TICK_OUTPUTS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Final

import redis
from dash import ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback
from dash.exceptions import PreventUpdate

from callbacks import resources
from callbacks.auth import guarded, workspace
from callbacks.wall.replay import shown_replay
from ioc.caches import VersionedCache
from ioc.city import City
from ioc.cluster import Client
from ioc.errors import DatabaseError
from ioc.i18n import LANGS, normalize_lang
from ioc.identity.roles import Permission
from ioc.keys import Keys
from ioc.snapshot import (
    SpeedSeries,
    WallSnapshot,
    read_data_stamp,
    read_speed_series,
    read_wall_snapshot,
    restamped,
)
from layouts.wall import ids
from layouts.wall.chart import CHART_TOP_N, CHART_WINDOW_MINUTES, ChartQuery
from layouts.wall.city_map import MapMemory, MapStates, decode_states, encode_states
from layouts.wall.tick import ClientState, TickUpdate, WallPicture, build_tick, chart_query

log = logging.getLogger(__name__)

TICK_OUTPUTS: Final[dict[str, Output]] = {
    "clock": Output(ids.CLOCK, "children"),
    "kpi_values": Output({"type": ids.KPI_VALUE, "kpi": ALL}, "children"),
    "kpi_subs": Output({"type": ids.KPI_SUB, "kpi": ALL}, "children"),
    "kpi_classes": Output({"type": ids.KPI, "kpi": ALL}, "className"),
    "map_delta": Output(ids.MAP_DELTA, "data-delta"),  # read by assets/wall_map.js as it changes
    "chart_figure": Output(ids.CHART, "figure"),
    "chart_extend": Output(ids.CHART, "extendData"),
    "gauge_values": Output({"type": ids.GAUGE_VALUE, "station": ALL}, "children"),
    "gauge_fills": Output({"type": ids.GAUGE_FILL, "station": ALL}, "style"),
    "gauge_badges": Output({"type": ids.GAUGE_BADGE, "station": ALL}, "children"),
    "gauge_classes": Output({"type": ids.GAUGE, "station": ALL}, "className"),
    "gauge_orders": Output({"type": ids.GAUGE, "station": ALL}, "style"),
    "alerts": Output(ids.ALERTS, "children"),
    "stale": Output(ids.STALE, "children"),
    "takeover": Output(ids.TAKEOVER, "children"),
    "viewport": Output(ids.MAP, "viewport"),
    "alarm": Output(ids.ALARM, "data"),
    "client": Output(ids.CLIENT, "data"),
    "heartbeat": Output(ids.HEARTBEAT, "data"),
}
TICK_INPUTS: Final = {
    "n_intervals": Input(ids.INTERVAL, "n_intervals"),
    "lang": State(ids.LANG, "data"),
    "store": State(ids.CLIENT, "data"),
    "pushed": Input(ids.PUSH, "data"),  # the push stream rang (assets/wall_push.js): refresh now
    "replay": Input(ids.REPLAY, "data"),  # the browser's replay (callbacks/wall/replay.py): None is live
}


PICTURES_NOTE: Final = "ioc.wall.pictures"  # the resources' note holding this process's WallPictures
PICTURE_MAX_AGE_S: Final = 10.0  # a picture is worked out again at least this often (a write no commit versioned)
NAMESPACES_KEPT: Final = 4  # live and the exercises whose trainees watch a wall here
SERIES_KEPT: Final = 64  # chart series kept per data version (screens at the same minute ask the same question)
MAPS_KEPT: Final = 32  # map versions (and deltas between them) kept: a screen this many versions behind gets it whole
MAP_SHARED_S: Final = 120  # how long a map version stays in Redis for the other web processes


@dataclass(frozen=True)
class SharedMaps:
    """The process's MapMemory, with each new version put in Redis for a while (keys.wall_map) and a version it
    never saw read from there: a screen whose ticks go to several web processes still gets only what changed."""

    memory: MapMemory
    client: Client
    keys: Keys

    def delta(self, held_version: str | None, now: MapStates) -> str:
        """What a browser holding `held_version` is sent to show `now`."""
        return self.memory.delta(held_version, now, recall=self._recall, publish=self._publish)

    def _recall(self, version: str) -> MapStates | None:
        try:
            raw = self.client.get(self.keys.wall_map(version))
        except (redis.RedisError, OSError):
            return None
        return decode_states(version, raw if isinstance(raw, str) else None)

    def _publish(self, states: MapStates) -> None:
        with contextlib.suppress(redis.RedisError, OSError):  # else the others send such a screen the whole map once
            self.client.set(self.keys.wall_map(states.version), encode_states(states), ex=MAP_SHARED_S, nx=True)


@dataclass(frozen=True)
class WallPictures:
    """The process's shared pictures of the wall: per language, the snapshot of the newest data version and its
    WallPicture; per chart question, its series for that version. Bounded and short-lived; sizes of 0 turn sharing
    off (every tick then reads and works out everything for its own screen, as the benchmark's "before" does)."""

    pictures: VersionedCache[tuple[WallSnapshot, WallPicture]] = field(
        default_factory=lambda: VersionedCache(max_age_s=PICTURE_MAX_AGE_S, size=NAMESPACES_KEPT * len(LANGS))
    )
    series: VersionedCache[SpeedSeries | None] = field(
        default_factory=lambda: VersionedCache(max_age_s=PICTURE_MAX_AGE_S, size=SERIES_KEPT)
    )
    maps: MapMemory = field(default_factory=lambda: MapMemory(MAPS_KEPT))

    @classmethod
    def per_screen(cls) -> WallPictures:
        """Sharing turned off: each tick works out its own picture (and the map whenever it changed)."""
        return cls(VersionedCache(max_age_s=0.0, size=0), VersionedCache(max_age_s=0.0, size=0), MapMemory(0))

    @property
    def sharing(self) -> bool:
        """Whether pictures are kept and shared."""
        return self.pictures.size > 0


def picture_key(keys: Keys, language: str) -> str:
    """Under what a shared picture is kept: its namespace's (live, or the exercise a trainee watches; two namespaces'
    versions may coincide) and its language's."""
    return f"{keys.namespace}:{language}"


def update_wall(
    client: Client,
    keys: Keys,
    city: City,
    *,
    lang: str | None,
    store: object,
    stale_after_s: float,
    now: float | None = None,
    shared: WallPictures | None = None,
) -> TickUpdate:
    """One tick for one browser: what changed since the version it holds. With `shared`, the picture of the newest
    data version is worked out once per process (one small read names the version); without, this tick reads the
    snapshot (and new chart minutes) and works out everything for itself."""
    at = time.time() if now is None else now
    maps = SharedMaps(shared.maps, client, keys) if shared is not None and shared.maps.size > 0 else None
    language = normalize_lang(lang)
    state = ClientState.from_store(store).of_namespace(keys.namespace)
    query = chart_query(state, at)
    stamp = read_data_stamp(client, keys) if shared is not None and shared.sharing else None
    if shared is None or stamp is None:
        snapshot = read_wall_snapshot(client, keys, city, stale_after_s=stale_after_s, now=at)
        series = _series(client, keys, city, snapshot, query)
        return build_tick(snapshot, series, query, city, language, state, at, maps=maps)

    def work_out() -> tuple[WallSnapshot, WallPicture]:
        return read_wall_snapshot(client, keys, city, stale_after_s=stale_after_s, now=at), WallPicture()

    version = stamp.version  # read before the data: a picture is never older than the version it is kept under
    read, picture = shared.pictures.get(
        picture_key(keys, language), version, work_out, keep=lambda kept: kept[0].stale_reason != "redis"
    )
    snapshot = read if read.stale_reason == "redis" else restamped(read, stamp, stale_after_s=stale_after_s, now=at)
    question = json.dumps([keys.namespace, query.since_minute, query.segment_ids])
    series = shared.series.get(
        question, version, lambda: _series(client, keys, city, snapshot, query), keep=lambda kept: kept is not None
    )
    return build_tick(snapshot, series, query, city, language, state, at, picture, maps=maps)


def _series(client: Client, keys: Keys, city: City, snapshot: WallSnapshot, query: ChartQuery) -> SpeedSeries | None:
    """The chart's new minutes (or its whole window) for this question; None while Redis cannot be reached."""
    if snapshot.stale_reason == "redis":
        return None
    try:
        return read_speed_series(
            client,
            keys,
            city,
            since_minute=query.since_minute,
            window_minutes=CHART_WINDOW_MINUTES,
            segment_ids=query.segment_ids,
            top_n=CHART_TOP_N,
        )
    except (redis.RedisError, OSError):
        return None  # Redis went away between the two reads: the next tick shows the stale banner


def wall_pictures() -> WallPictures:
    """The shared pictures kept with the resources attached (other resources, in tests and benchmarks, start
    afresh)."""
    notes = resources().notes
    kept = notes.get(PICTURES_NOTE)
    if kept is None:
        kept = notes.setdefault(PICTURES_NOTE, WallPictures())  # two threads at once: both use the one kept
    assert isinstance(kept, WallPictures)
    return kept


@callback(output=TICK_OUTPUTS, inputs=TICK_INPUTS)
@guarded(Permission.VIEW_WALL)
def tick(
    n_intervals: int | None, lang: str | None, store: object, pushed: int | None = None, replay: object = None
) -> dict[str, Any]:
    """The wall's refresh (polled, or rung by push): everything that changed since this browser's last tick, by
    output name; from the replay this browser shows, if it may (a replay is never stale)."""
    res = resources()
    stale_after_s = res.settings.stale_after_s
    try:
        keys = workspace().keys
        replayed = shown_replay(replay) if replay is not None else None
    except DatabaseError as exc:
        log.warning("wall tick cannot tell where its viewer works: %s", exc)
        raise PreventUpdate from None  # what it shows stays; the next tick asks again
    if replayed is not None:
        keys, stale_after_s = replayed, math.inf
    update = update_wall(
        res.redis,
        keys,
        res.city,
        lang=lang,
        store=store,
        stale_after_s=stale_after_s,
        shared=wall_pictures(),
    )
    return update.outputs()


clientside_callback(
    ClientsideFunction(namespace="wall", function_name="watchdog"),
    Output(ids.STALE_CLIENT, "className"),
    Input(ids.INTERVAL, "n_intervals"),
    Input(ids.HEARTBEAT, "data"),
    State(ids.INTERVAL, "interval"),
)

clientside_callback(
    ClientsideFunction(namespace="wall_push", function_name="listen"),
    Output(ids.PUSH, "data"),  # never set here (no_update): a callback with an output runs when the page loads
    Input(ids.PUSH_URL, "data"),
)

clientside_callback(
    ClientsideFunction(namespace="wall", function_name="alarm"),
    Input(ids.ALARM, "data"),
    prevent_initial_call=True,
)
