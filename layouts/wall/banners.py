"""The wall's banners: the stale-data strip (no fresh data, or Redis lost) and the critical-alert takeover."""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

from dash import html
from dash.development.base_component import Component

from ioc.city import City
from ioc.i18n import fmt_number, t
from ioc.snapshot import WallSnapshot
from layouts.common import local_time, place_name


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


def stale_key(snapshot: WallSnapshot) -> list[Any]:
    """What the stale banner shows: whether, why, and the age in whole seconds (its content for the diff)."""
    age = int(snapshot.last_event_age_s) if snapshot.stale and snapshot.last_event_age_s is not None else None
    return [snapshot.stale, snapshot.stale_reason, age]


def takeover_banner(snapshot: WallSnapshot, city: City, lang: str) -> Component | None:
    """The critical-alert banner while any critical alert is active: the newest one in words, and how many more."""
    if not snapshot.critical_alerts:
        return None
    alert = snapshot.critical_alerts[0]
    when = local_time(alert.ts, city.timezone)
    station = snapshot.stations.get(alert.place)
    if alert.kind == "flood.level.changed" and station is not None:
        level = alert.new_alarm()
        text = t(
            "takeover.flood",
            lang,
            level=t(f"alarm.{level}", lang) if level is not None else alert.new,
            place=place_name(city, alert.place),
            value=fmt_number(station.level_m, lang, 2),
            time=when,
        )
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


def takeover_key(snapshot: WallSnapshot) -> list[Any]:
    """What the takeover banner shows: the newest critical alert, its station's reading, how many there are."""
    if not snapshot.critical_alerts:
        return []
    alert = snapshot.critical_alerts[0]
    station = snapshot.stations.get(alert.place)
    return [astuple(alert), astuple(station) if station else None, len(snapshot.critical_alerts)]
