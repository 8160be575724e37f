"""The KPI strip: six tiles across the top of the wall (sensors online, city speed, congestion, flood, alerts,
dead letters), each with a value, a line under it and a state that colours it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dash import html
from dash.development.base_component import Component

from ioc.city import City
from ioc.i18n import fmt_number, t
from ioc.rules import speed_band
from ioc.snapshot import Kpis
from layouts.states import alarm_state
from layouts.wall import ids

# KPI tiles in strip order: (key, label text key, unit text key).
KPI_TILES: Final = (
    ("sensors", "kpi.sensors_online", ""),
    ("speed", "kpi.city_speed", "kpi.kmh"),
    ("congested", "kpi.congested", ""),
    ("flood", "kpi.flood", ""),
    ("alerts", "kpi.alerts", ""),
    ("deadletters", "kpi.deadletters", ""),
)
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
        KpiView(
            "sensors",
            str(kpis.sensors_online),
            t("kpi.of_total", lang, total=kpis.sensors_total),
            "ok" if share_online >= 0.95 else "warn" if share_online >= 0.8 else "bad",
        ),
        KpiView(
            "speed",
            fmt_number(speed, lang),
            t(f"band.{band}", lang),
            {"unknown": "none", "congested": "bad", "slow": "warn", "smooth": "ok"}[band],
        ),
        KpiView(
            "congested",
            str(kpis.congested_segments),
            t("kpi.of_total", lang, total=kpis.segments_total),
            "ok" if kpis.congested_segments == 0 else "warn" if congested_share < 0.1 else "bad",
        ),
        KpiView(
            "flood",
            t(f"alarm.short.{kpis.highest_flood_alarm}", lang),
            flood_sub,
            alarm_state(kpis.highest_flood_alarm),
        ),
        KpiView(
            "alerts", str(kpis.active_alerts), t("kpi.alerts_hint", lang), "ok" if kpis.active_alerts == 0 else "warn"
        ),
        KpiView(
            "deadletters",
            str(kpis.deadletters),
            t("kpi.deadletters_hint", lang),
            "ok" if kpis.deadletters == 0 else "warn",
        ),
    ]


def kpi_class(view: KpiView) -> str:
    """The tile's class names: its state colours the edge and, for alarms, the value."""
    return f"wall-kpi wall-kpi--{view.state}"


def kpi_tile(view: KpiView, label: str, unit: str) -> Component:
    """One KPI tile; value, sub-line and class are updated in place by the tick (pattern-matching ids)."""
    return html.Div(
        id={"type": ids.KPI, "kpi": view.key},
        className=kpi_class(view),
        children=[
            html.Div(label, className="wall-kpi-label"),
            html.Div(
                [
                    html.Span(view.value, id={"type": ids.KPI_VALUE, "kpi": view.key}, className="wall-kpi-value"),
                    html.Span(unit, className="wall-kpi-unit"),
                ],
                className="wall-kpi-main",
            ),
            html.Div(view.sub, id={"type": ids.KPI_SUB, "kpi": view.key}, className="wall-kpi-sub"),
        ],
    )


def kpi_strip(kpis: Kpis | None, city: City, lang: str) -> list[Component]:
    """The six KPI tiles."""
    views = kpi_views(kpis, city, lang)
    return [
        kpi_tile(view, t(label, lang), t(unit, lang) if unit else "")
        for view, (_, label, unit) in zip(views, KPI_TILES, strict=True)
    ]
