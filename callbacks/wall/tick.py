"""Wall callbacks: one server tick that reads the snapshot and sends only what changed, and two clientside helpers.

The tick reads the namespace of whoever is signed in (`callbacks.auth.workspace`): live, or for a trainee the
exercise's own (a display token: always live); the browser's state names the namespace it was read from, so a switch
repaints everything. The tick is the page's only server round trip per refresh; its response stays small because the
layout builder returns `no_update` for every section this browser already shows. Its outputs are matched by name:
each field of layouts.wall.tick.TickUpdate has its component property in TICK_OUTPUTS.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import redis
from dash import ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback
from dash.exceptions import PreventUpdate

from callbacks import resources
from callbacks.auth import guarded, workspace
from ioc.city import City
from ioc.cluster import Client
from ioc.errors import DatabaseError
from ioc.i18n import normalize_lang
from ioc.identity.roles import Permission
from ioc.keys import Keys
from ioc.snapshot import SpeedSeries, read_speed_series, read_wall_snapshot
from layouts.wall import ids
from layouts.wall.chart import CHART_TOP_N, CHART_WINDOW_MINUTES
from layouts.wall.tick import ClientState, TickUpdate, build_tick, chart_query

log = logging.getLogger(__name__)

TICK_OUTPUTS: Final[dict[str, Output]] = {
    "clock": Output(ids.CLOCK, "children"),
    "kpi_values": Output({"type": ids.KPI_VALUE, "kpi": ALL}, "children"),
    "kpi_subs": Output({"type": ids.KPI_SUB, "kpi": ALL}, "children"),
    "kpi_classes": Output({"type": ids.KPI, "kpi": ALL}, "className"),
    "segments_hideout": Output(ids.SEGMENTS, "hideout"),
    "cameras_hideout": Output(ids.CAMERAS, "hideout"),
    "speed_cameras_hideout": Output(ids.SPEED_CAMERAS, "hideout"),
    "stations_hideout": Output(ids.STATIONS, "hideout"),
    "rain_gauges_hideout": Output(ids.RAIN_GAUGES, "hideout"),
    "hotspots_hideout": Output(ids.HOTSPOTS, "hideout"),
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
}


def update_wall(
    client: Client,
    keys: Keys,
    city: City,
    *,
    lang: str | None,
    store: object,
    stale_after_s: float,
    now: float | None = None,
) -> TickUpdate:
    """One tick for one browser: read the snapshot (and new chart minutes), and build what changed."""
    at = time.time() if now is None else now
    snapshot = read_wall_snapshot(client, keys, city, stale_after_s=stale_after_s, now=at)
    state = ClientState.from_store(store).of_namespace(keys.namespace)
    query = chart_query(state, at)
    series: SpeedSeries | None = None
    if snapshot.stale_reason != "redis":
        try:
            series = read_speed_series(
                client,
                keys,
                city,
                since_minute=query.since_minute,
                window_minutes=CHART_WINDOW_MINUTES,
                segment_ids=query.segment_ids,
                top_n=CHART_TOP_N,
            )
        except (redis.RedisError, OSError):
            series = None  # Redis went away between the two reads: the next tick shows the stale banner
    return build_tick(snapshot, series, query, city, normalize_lang(lang), state, at)


@callback(output=TICK_OUTPUTS, inputs=TICK_INPUTS)
@guarded(Permission.VIEW_WALL)
def tick(n_intervals: int | None, lang: str | None, store: object) -> dict[str, Any]:
    """The wall's refresh: everything that changed since this browser's last tick, by output name."""
    res = resources()
    try:
        keys = workspace().keys
    except DatabaseError as exc:
        log.warning("wall tick cannot tell where its viewer works: %s", exc)
        raise PreventUpdate from None  # what it shows stays; the next tick asks again
    update = update_wall(res.redis, keys, res.city, lang=lang, store=store, stale_after_s=res.settings.stale_after_s)
    return update.outputs()


clientside_callback(
    ClientsideFunction(namespace="wall", function_name="watchdog"),
    Output(ids.STALE_CLIENT, "className"),
    Input(ids.INTERVAL, "n_intervals"),
    Input(ids.HEARTBEAT, "data"),
    State(ids.INTERVAL, "interval"),
)

clientside_callback(
    ClientsideFunction(namespace="wall", function_name="alarm"),
    Input(ids.ALARM, "data"),
    prevent_initial_call=True,
)
