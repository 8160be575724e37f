"""Compact, read-only views of derived state for the pages: plain dataclasses, no Dash, no raw streams.

Web workers call these readers on every tick; each reader is a single pipelined round trip over derived keys
written by the aggregator, never a scan of raw events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SpeedBand = Literal["congested", "slow", "smooth", "unknown"]
RainClass = Literal["none", "light", "moderate", "heavy", "very_heavy"]
Health = Literal["online", "offline", "fault", "unknown"]
Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class SegmentState:
    """Latest speed of one road segment and its band."""

    id: str
    speed_kmh: float | None
    band: SpeedBand
    congested: bool
    ts: float | None


@dataclass(frozen=True)
class StationState:
    """Latest water level of one station and its alarm level (0 = below BĐ I, 1..3 = BĐ I..III)."""

    id: str
    level_m: float | None
    alarm: int
    ts: float | None


@dataclass(frozen=True)
class GaugeState:
    """Rain totals of one gauge and its class by the Vietnamese 24-hour thresholds."""

    id: str
    rain_1h_mm: float
    rain_24h_mm: float
    rain_class: RainClass
    ts: float | None


@dataclass(frozen=True)
class HotspotState:
    """Latest usage of one wifi hotspot."""

    id: str
    clients: int
    mbps: float
    ts: float | None


@dataclass(frozen=True)
class Alert:
    """One level change from an alerts stream: when, where, from what to what."""

    id: str  # "<domain>:<stream entry id>", unique and sortable within a domain
    domain: str
    kind: str  # flood.level.changed | traffic.congestion.changed | device.health.changed
    ts: float  # event time, epoch seconds
    place: str  # sensor or segment id
    old: str
    new: str
    severity: Severity
    lat: float
    lon: float


@dataclass(frozen=True)
class Kpis:
    """The numbers in the wall's KPI strip."""

    sensors_online: int
    sensors_total: int
    city_speed_kmh: float | None
    congested_segments: int
    segments_total: int
    highest_flood_alarm: int
    highest_flood_station: str | None
    active_alerts: int
    deadletters: int


@dataclass(frozen=True)
class WallSnapshot:
    """Everything the wall display shows, read in one round trip."""

    clock: float | None  # the city clock: newest event time processed, epoch seconds
    kpis: Kpis
    segments: dict[str, SegmentState]
    stations: dict[str, StationState]
    gauges: dict[str, GaugeState]
    hotspots: dict[str, HotspotState]
    health: dict[str, Health]  # sensor id -> health
    recent_alerts: list[Alert]  # newest first
    critical_alerts: list[Alert]  # alerts active now at critical severity, newest first
    stale: bool
    stale_reason: str | None  # "redis" when Redis cannot be reached, "no-data" when nothing arrived lately
    last_event_age_s: float | None  # wall seconds since the aggregator last processed an event


@dataclass(frozen=True)
class SpeedSeries:
    """Per-minute speeds over a window: the city average and chosen segments, as plain lists."""

    minutes: list[int]  # epoch minutes (epoch seconds // 60), ascending
    city_avg: list[float | None]
    segments: dict[str, list[float | None]] = field(default_factory=dict)
