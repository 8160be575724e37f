"""Compact, read-only views of derived state for the pages: plain dataclasses, no Dash, no raw streams.

Web workers call these readers on every tick; each reader is a single pipelined round trip over derived keys
written by the aggregator, never a scan of raw events.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from ioc.city import City
from ioc.clock import decode_timebase
from ioc.cluster import Client
from ioc.documents import Alert as StoredAlert
from ioc.documents import HealthStatus, decode_active, decode_state, decode_stream_alert
from ioc.keys import DOMAINS, Keys
from ioc.rollup import decode_minute, mean_speed_kmh
from ioc.rules import RainClass, SpeedBand, band_thresholds

__all__ = ["RainClass", "SpeedBand"]
Health = HealthStatus


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
class WallAlert(StoredAlert):
    """An alert as the pages see it: the stored alert (ioc/documents.py), where it came from, and an id unique
    across domains."""

    id: str = ""  # "<domain>:<stream entry id>" for a level change, "<domain>:active:<key>:<since>" for an active one
    domain: str = ""


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
    recent_alerts: list[WallAlert]  # level changes from the alerts streams, newest first
    critical_alerts: list[WallAlert]  # alerts active now at critical severity, newest first
    active_alerts: list[WallAlert]  # every alert active now (what the KPI counts), newest first
    stale: bool
    stale_reason: str | None  # "redis" when Redis cannot be reached, "no-data" when nothing arrived lately
    last_event_age_s: float | None  # wall seconds since the aggregator last processed an event
    simulated_speed: float | None = None  # the namespace runs on a simulator's declared clock at this speed


@dataclass(frozen=True)
class SpeedSeries:
    """Per-minute speeds over a window: the city average and chosen segments, as plain lists."""

    minutes: list[int]  # epoch minutes (epoch seconds // 60), ascending
    city_avg: list[float | None]
    segments: dict[str, list[float | None]] = field(default_factory=dict)


log = logging.getLogger(__name__)
RECENT_ALERTS = 12
LIVE_SEGMENT_AGE_S = 15 * 60  # a segment speed older than this (city clock) no longer counts as current


def _loads(raw: str | None) -> dict[str, Any]:
    """A JSON object as stored, {} when absent or damaged (a damaged record must not blank the wall)."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _float(raw: str | None) -> float | None:
    return float(raw) if raw not in (None, "") else None


def _readable(replies: list[Any]) -> list[Any]:
    """Pipeline replies with any key Redis refused to read (someone gave it another type) read as empty: one
    broken key shows as missing data, not a blank wall. (The aggregator moves such a key aside.)"""
    refused = [reply for reply in replies if isinstance(reply, redis.ResponseError)]
    if refused:
        log.warning("reading the wall's state: %s", refused[0])
    return [{} if isinstance(reply, redis.ResponseError) else reply for reply in replies]


def empty_snapshot(stale_reason: str | None, city: City) -> WallSnapshot:
    """A snapshot with no data, used when Redis cannot be reached (the page then shows the stale banner)."""
    return WallSnapshot(
        clock=None,
        kpis=Kpis(0, len(city.sensors), None, 0, len(city.segments), 0, None, 0, 0),
        segments={},
        stations={},
        gauges={},
        hotspots={},
        health={},
        recent_alerts=[],
        critical_alerts=[],
        active_alerts=[],
        stale=stale_reason is not None,
        stale_reason=stale_reason,
        last_event_age_s=None,
    )


def _alert_view(domain: str, alert_id: str, alert: StoredAlert | None) -> WallAlert | None:
    """An alert as the pages show it, from its stored form (None stays None: a damaged record is skipped)."""
    if alert is None:
        return None
    stored = {f.name: getattr(alert, f.name) for f in dataclasses.fields(StoredAlert)}
    return WallAlert(**stored, id=alert_id, domain=domain)


def read_wall_snapshot(
    client: Client, keys: Keys, city: City, *, stale_after_s: float, now: float | None = None
) -> WallSnapshot:
    """Read everything the wall shows in one pipelined round trip; a Redis failure gives a stale, empty snapshot."""
    wall_now = time.time() if now is None else now
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.segments())
    pipe.hgetall(keys.stations())
    pipe.hgetall(keys.gauges())
    pipe.hgetall(keys.health())
    pipe.hgetall(keys.latest("wifi"))
    pipe.hgetall(keys.heartbeat())
    pipe.hgetall(keys.clock())
    for domain in DOMAINS:
        pipe.hgetall(keys.stats(domain))
        pipe.hgetall(keys.active(domain))
        pipe.xrevrange(keys.alerts(domain), count=RECENT_ALERTS)
    try:
        replies: list[Any] = _readable(pipe.execute(raise_on_error=False))
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return empty_snapshot("redis", city)
    seg_raw, st_raw, gauge_raw, health_raw, wifi_raw, heartbeat, declared = replies[:7]
    per_domain = replies[7:]
    timebase = decode_timebase(declared)

    clock: float | None = None
    deadletters = 0
    recent: list[WallAlert] = []
    active_alerts: list[WallAlert] = []
    for index, domain in enumerate(DOMAINS):
        stats, active, alerts = per_domain[3 * index : 3 * index + 3]
        domain_clock = _float(stats.get("clock"))
        if domain_clock is not None:
            clock = domain_clock if clock is None else max(clock, domain_clock)
        deadletters += int(stats.get("deadletter", 0))
        for entry_id, fields in alerts:
            if (view := _alert_view(domain, f"{domain}:{entry_id}", decode_stream_alert(fields))) is not None:
                recent.append(view)
        for key, raw in active.items():
            stored = decode_active(raw)
            since = stored.ts if stored is not None else None
            if (view := _alert_view(domain, f"{domain}:active:{key}:{since}", stored)) is not None:
                active_alerts.append(view)
    recent.sort(key=lambda a: a.ts, reverse=True)
    active_alerts.sort(key=lambda a: a.ts, reverse=True)

    segments = {
        sid: SegmentState(id=sid, speed_kmh=d["speed"], band=d["band"], congested=d["congested"], ts=d["ts"])
        for sid, d in decode_state("segments", seg_raw).items()
    }
    stations = {
        sid: StationState(id=sid, level_m=d["level_m"], alarm=d["alarm"], ts=d["ts"])
        for sid, d in decode_state("stations", st_raw).items()
    }
    gauges = {
        gid: GaugeState(
            id=gid, rain_1h_mm=d["rain_1h_mm"], rain_24h_mm=d["rain_24h_mm"], rain_class=d["rain_class"], ts=d["ts"]
        )
        for gid, d in decode_state("gauges", gauge_raw).items()
    }
    hotspots = {
        hid: HotspotState(id=hid, clients=int(d.get("clients", 0)), mbps=float(d.get("mbps", 0.0)), ts=d.get("ts"))
        for hid, d in ((hid, _loads(raw)) for hid, raw in wifi_raw.items())
    }
    health: dict[str, Health] = {
        sid: d["status"] for sid, d in decode_state("health", health_raw).items() if sid in city.sensors
    }

    live_speeds = [
        s.speed_kmh
        for s in segments.values()
        if s.speed_kmh is not None and (clock is None or s.ts is None or clock - s.ts <= LIVE_SEGMENT_AGE_S)
    ]
    top_station = max(stations.values(), key=lambda s: (s.alarm, s.level_m or 0.0), default=None)
    kpis = Kpis(
        sensors_online=sum(1 for h in health.values() if h == "online"),
        sensors_total=len(city.sensors),
        city_speed_kmh=round(sum(live_speeds) / len(live_speeds), 1) if live_speeds else None,
        congested_segments=sum(1 for s in segments.values() if s.congested),
        segments_total=len(city.segments),
        highest_flood_alarm=top_station.alarm if top_station else 0,
        highest_flood_station=top_station.id if top_station else None,
        active_alerts=len(active_alerts),  # the same alerts the wall lists, so the two always agree
        deadletters=deadletters,
    )
    age, stale_reason = _freshness(_float(heartbeat.get("event")), wall_now, stale_after_s)
    return WallSnapshot(
        clock=clock,
        kpis=kpis,
        segments=segments,
        stations=stations,
        gauges=gauges,
        hotspots=hotspots,
        health=health,
        recent_alerts=recent[:RECENT_ALERTS],
        critical_alerts=[a for a in active_alerts if a.severity == "critical"],
        active_alerts=active_alerts,
        stale=stale_reason is not None,
        stale_reason=stale_reason,
        last_event_age_s=age,
        simulated_speed=timebase.speed if timebase.simulated else None,
    )


def read_speed_series(
    client: Client,
    keys: Keys,
    city: City,
    *,
    since_minute: int | None,
    window_minutes: int = 60,
    segment_ids: Sequence[str] | None = None,
    top_n: int = 5,
) -> SpeedSeries:
    """Per-minute speeds of completed minutes in the window ending at the city clock, from the minute roll-ups.

    The city average of a minute is the mean of the segments' vehicle-weighted mean speeds that minute (the same
    mean over segments as the KPI). With no `segment_ids`, the `top_n` segments slowest relative to their
    smooth-flow line over the window are chosen, slowest first.
    """
    raw_clock = client.hget(keys.stats("traffic"), "clock")
    if raw_clock is None:
        return SpeedSeries(minutes=[], city_avg=[], segments={})
    current = int(float(str(raw_clock))) // 60
    first = current - window_minutes
    start = first if since_minute is None else max(first, since_minute + 1)
    minutes = list(range(start, current))
    if not minutes:
        return SpeedSeries(minutes=[], city_avg=[], segments={sid: [] for sid in segment_ids or []})
    pipe = client.pipeline(transaction=False)
    for minute in minutes:
        pipe.hgetall(keys.speed_minute(minute))
    buckets: list[dict[str, str]] = _readable(pipe.execute(raise_on_error=False))

    per_minute: list[dict[str, float]] = []
    for bucket in buckets:
        speeds: dict[str, float] = {}
        for seg_id, (speed_sum, weight) in decode_minute(bucket).items():
            speed = mean_speed_kmh(speed_sum, weight)
            if speed is not None:
                speeds[seg_id] = speed
        per_minute.append(speeds)
    city_avg = [round(sum(s.values()) / len(s), 2) if s else None for s in per_minute]

    if segment_ids is None:
        ratios: dict[str, float] = {}
        for seg_id, segment in city.segments.items():
            values = [m[seg_id] for m in per_minute if seg_id in m]
            if values:
                ratios[seg_id] = (sum(values) / len(values)) / band_thresholds(segment.road_class)[1]
        segment_ids = sorted(ratios, key=lambda s: ratios[s])[:top_n]
    series = {sid: [round(m[sid], 2) if sid in m else None for m in per_minute] for sid in segment_ids}
    return SpeedSeries(minutes=minutes, city_avg=city_avg, segments=series)


def _freshness(last_event: float | None, wall_now: float, stale_after_s: float) -> tuple[float | None, str | None]:
    """Seconds since the aggregator last processed an event, and "no-data" when that is too long ago (or never)."""
    age = wall_now - last_event if last_event is not None else None
    return age, "no-data" if age is None or age > stale_after_s else None


@dataclass(frozen=True)
class DataStamp:
    """What names the wall's data now, read in one small round trip: each domain's state version (bumped by every
    aggregator commit, the watchdog's too, in the commit's own script) and the declared clock; with the time of the
    last processed event, which says only how fresh that data is."""

    versions: tuple[str, ...]
    declared: tuple[tuple[str, str], ...]
    last_event: float | None

    @property
    def version(self) -> str:
        """The data version as one text: equal texts, equal wall data."""
        return json.dumps([self.versions, self.declared])


def read_data_stamp(client: Client, keys: Keys) -> DataStamp | None:
    """The data stamp now (one pipelined round trip of small reads), or None when Redis does not answer."""
    pipe = client.pipeline(transaction=False)
    for domain in DOMAINS:
        pipe.hget(keys.stats(domain), "version")
    pipe.hget(keys.heartbeat(), "event")
    pipe.hgetall(keys.clock())
    try:
        replies: list[Any] = _readable(pipe.execute(raise_on_error=False))
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return None
    *versions, event, declared = replies
    last_event = event if isinstance(event, str) else None
    return DataStamp(
        versions=tuple(v if isinstance(v, str) else "" for v in versions),
        declared=tuple(sorted(declared.items())) if isinstance(declared, dict) else (),
        last_event=_float(last_event) if last_event else None,
    )


def restamped(snapshot: WallSnapshot, stamp: DataStamp, *, stale_after_s: float, now: float) -> WallSnapshot:
    """A snapshot read earlier for the same data version, its freshness as of `now` (from the stamp's heartbeat): the
    same snapshot a fresh read would give now, without reading the data again."""
    age, stale_reason = _freshness(stamp.last_event, now, stale_after_s)
    return dataclasses.replace(
        snapshot, stale=stale_reason is not None, stale_reason=stale_reason, last_event_age_s=age
    )
