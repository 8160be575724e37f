"""Wall callbacks: one server tick that reads the snapshot and sends only what changed, and two clientside helpers.

The tick is the page's only server round trip per refresh; its response stays small because the layout builder
returns `no_update` for every section this browser already shows.
"""

from __future__ import annotations

import time
from typing import Any, Final

import redis
from dash import ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback

from callbacks import app_city, app_keys, app_settings, redis_client
from ioc.city import City
from ioc.i18n import normalize_lang
from ioc.keys import Keys
from ioc.snapshot import SpeedSeries, read_speed_series, read_wall_snapshot
from layouts import wall as ui

TICK_OUTPUTS: Final = (
    Output(ui.ID_CLOCK, "children"),
    Output({"type": ui.ID_KPI_VALUE, "kpi": ALL}, "children"),
    Output({"type": ui.ID_KPI_SUB, "kpi": ALL}, "children"),
    Output({"type": ui.ID_KPI, "kpi": ALL}, "className"),
    Output(ui.ID_SEGMENTS, "hideout"),
    Output(ui.ID_CAMERAS, "hideout"),
    Output(ui.ID_SPEED_CAMERAS, "hideout"),
    Output(ui.ID_STATIONS, "hideout"),
    Output(ui.ID_RAIN_GAUGES, "hideout"),
    Output(ui.ID_HOTSPOTS, "hideout"),
    Output(ui.ID_CHART, "figure"),
    Output(ui.ID_CHART, "extendData"),
    Output({"type": ui.ID_GAUGE_VALUE, "station": ALL}, "children"),
    Output({"type": ui.ID_GAUGE_FILL, "station": ALL}, "style"),
    Output({"type": ui.ID_GAUGE_BADGE, "station": ALL}, "children"),
    Output({"type": ui.ID_GAUGE, "station": ALL}, "className"),
    Output({"type": ui.ID_GAUGE, "station": ALL}, "style"),
    Output(ui.ID_ALERTS, "children"),
    Output(ui.ID_STALE, "children"),
    Output(ui.ID_TAKEOVER, "children"),
    Output(ui.ID_MAP, "viewport"),
    Output(ui.ID_ALARM, "data"),
    Output(ui.ID_CLIENT, "data"),
    Output(ui.ID_HEARTBEAT, "data"),
)
TICK_INPUTS: Final = (
    Input(ui.ID_INTERVAL, "n_intervals"),
    State(ui.ID_LANG, "data"),
    State(ui.ID_CLIENT, "data"),
)


def update_wall(
    client: redis.Redis,
    keys: Keys,
    city: City,
    *,
    lang: str | None,
    store: object,
    stale_after_s: float,
    now: float | None = None,
) -> ui.TickUpdate:
    """One tick for one browser: read the snapshot (and new chart minutes), and build what changed."""
    at = time.time() if now is None else now
    snapshot = read_wall_snapshot(client, keys, city, stale_after_s=stale_after_s, now=at)
    state = ui.ClientState.from_store(store)
    query = ui.chart_query(state, at)
    series: SpeedSeries | None = None
    if snapshot.stale_reason != "redis":
        try:
            series = read_speed_series(
                client, keys, city, since_minute=query.since_minute, window_minutes=ui.CHART_WINDOW_MINUTES,
                segment_ids=query.segment_ids, top_n=ui.CHART_TOP_N,
            )  # fmt: skip
        except (redis.RedisError, OSError):
            series = None  # Redis went away between the two reads: the next tick shows the stale banner
    return ui.build_tick(snapshot, series, query, city, normalize_lang(lang), state, at)


@callback(*TICK_OUTPUTS, *TICK_INPUTS)
def tick(_n_intervals: int | None, lang: str | None, store: object) -> tuple[Any, ...]:
    """The wall's refresh: everything that changed since this browser's last tick."""
    update = update_wall(
        redis_client(), app_keys(), app_city(), lang=lang, store=store, stale_after_s=app_settings().stale_after_s
    )
    return update.outputs()


clientside_callback(
    ClientsideFunction(namespace="wall", function_name="watchdog"),
    Output(ui.ID_STALE_CLIENT, "className"),
    Input(ui.ID_INTERVAL, "n_intervals"),
    Input(ui.ID_HEARTBEAT, "data"),
    State(ui.ID_INTERVAL, "interval"),
)

clientside_callback(
    ClientsideFunction(namespace="wall", function_name="alarm"),
    Input(ui.ID_ALARM, "data"),
    prevent_initial_call=True,
)
