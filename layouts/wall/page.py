"""The whole wall page: header, banners, KPI strip, map with the incidents panel under it, chart, flood gauges and
alerts, with the stores and the interval the tick works with (the incidents panel has its own). Data arrives with
the first tick, so the page needs only the city and settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from dash import dcc, html
from dash.development.base_component import Component

from ioc.city import City
from ioc.i18n import t
from layouts.wall import ids
from layouts.wall.alerts import alert_list
from layouts.wall.chart import speed_figure
from layouts.wall.city_map import legend, wall_map
from layouts.wall.flood import flood_panel
from layouts.wall.header import header
from layouts.wall.incidents import incidents_panel
from layouts.wall.kpis import kpi_strip
from layouts.wall.replay import replay_bar, replay_store

PATH: Final = "/"  # where the wall is served; the kiosk screens open it full screen


def layout(
    city: City,
    *,
    lang: str,
    refresh_ms: int,
    tile_url: str = "",
    push_url: str | None = None,
    geometry: Mapping[str, str] | None = None,
    replay: bool = False,
    exercises: list[tuple[int, str]] | None = None,
) -> Component:
    """The whole wall page in one language, refreshing every `refresh_ms` and whenever `push_url` (if any) rings;
    with `replay`, the control that replays its history (for the roles that may; `exercises`, a trainer's choices);
    the map's layers fetch their features from the URLs in `geometry` (inline without)."""
    return html.Div(
        id=ids.ROOT,
        className="wall",
        lang=lang,
        children=[
            dcc.Interval(id=ids.INTERVAL, interval=refresh_ms),
            dcc.Store(id=ids.LANG, data=lang),
            dcc.Store(id=ids.CLIENT, data=None),
            dcc.Store(id=ids.HEARTBEAT, data=None),
            dcc.Store(id=ids.ALARM, data=None),
            dcc.Store(id=ids.PUSH, data=None),
            dcc.Store(id=ids.PUSH_URL, data=push_url),
            replay_store(),
            header(city, lang),
            html.Div(
                className="wall-banners",
                children=[
                    html.Div(id=ids.TAKEOVER, className="wall-takeover"),
                    html.Div(id=ids.STALE, className="wall-stale"),
                    html.Div(
                        t("stale.server", lang),
                        id=ids.STALE_CLIENT,
                        className="wall-banner wall-banner--stale is-hidden",
                        role="status",
                    ),
                ],
            ),
            html.Section(kpi_strip(None, city, lang), id=ids.KPIS, className="wall-kpis"),
            html.Main(
                className="wall-main",
                children=[
                    html.Div(
                        className="wall-left",
                        children=[
                            html.Div(
                                className="wall-map-wrap",
                                children=[*wall_map(city, lang, tile_url, geometry), legend(lang)],
                            ),
                            incidents_panel(lang),
                        ],
                    ),
                    html.Div(
                        className="wall-side",
                        children=[
                            html.Section(
                                className="wall-panel wall-panel--chart",
                                children=[
                                    html.H2(t("chart.title", lang), className="wall-panel-title"),
                                    dcc.Graph(
                                        id=ids.CHART,
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
                                    html.Div(
                                        flood_panel(None, city, lang), id=ids.FLOOD, className="wall-flood-gauges"
                                    ),
                                    html.H2(t("alerts.title", lang), className="wall-panel-title"),
                                    html.Ul(alert_list([], city, lang), id=ids.ALERTS, className="wall-alerts"),
                                ],
                            ),
                        ],
                    ),
                ],
            ),
            replay_bar(lang, exercises) if replay else None,
        ],
    )
