"""The wall's active alerts list: every alert the KPI counts, most severe first, at most a few rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from dash import html
from dash.development.base_component import Component

from ioc.city import City
from ioc.documents import alarm_level
from ioc.i18n import TEXTS, t
from ioc.snapshot import WallAlert, WallSnapshot
from layouts.common import local_time, place_name

MAX_ALERTS: Final = 4  # alert list rows; more active alerts show as one "+N more" row, so the wall stays glanceable
SEVERITY_RANK: Final = {"critical": 2, "warning": 1, "info": 0}


def alert_value(kind: str, value: str, lang: str) -> str:
    """An alert's old or new value in words: alarm levels, congestion, rain classes and device health."""
    if kind == "flood.level.changed" and (level := alarm_level(value)) is not None:
        return t(f"alarm.short.{level}", lang)
    if kind == "traffic.congestion.changed":
        return t(f"alerts.value.{value}", lang)
    if kind == "flood.rain.changed":
        return t(f"rain.{value}", lang)
    if kind == "device.health.changed":
        return t(f"health.{value}", lang)
    return value


def alert_change(alert: WallAlert, lang: str) -> str:
    """What an alert says happened, in words: "old → new" for a change, the state alone for an active alert."""
    new = alert_value(alert.kind, alert.new, lang)
    return f"{alert_value(alert.kind, alert.old, lang)} → {new}" if alert.old else new


def alert_list(alerts: Sequence[WallAlert], city: City, lang: str, limit: int = MAX_ALERTS) -> list[Component]:
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


def _flood_level(alert: WallAlert) -> int:
    return alert.new_alarm() or 0


def active_alerts(snapshot: WallSnapshot) -> list[WallAlert]:
    """Every active alert the KPI counts, most severe first (BĐ III; BĐ II before BĐ I among warnings), then newest."""
    return sorted(
        snapshot.active_alerts, key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), -_flood_level(a), -a.ts, a.id)
    )
