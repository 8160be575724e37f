"""The aggregator: the one process that consumes the raw streams and turns events into derived state and alerts.

Exactly-once effect: each batch of one domain is read with XREADGROUP, its derived writes, dead letters, alerts
and the XACK of its entries go to Redis in one MULTI/EXEC under WATCH of the state it read. Killed anywhere,
the batch is either wholly applied and acknowledged or not at all; at start the consumer re-reads its own pending
entries and claims entries left idle by dead consumers, so nothing is lost and nothing counted twice.

All rules run on event time; the city clock is the newest event time seen, so a sped-up simulation and a replay
give the same state as real time would.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import redis

from ioc.city import City, Sensor
from ioc.errors import InvalidEvent
from ioc.events import (
    EVENT_DOMAINS,
    DeviceStatusChanged,
    Event,
    FloodRainObserved,
    FloodWaterLevelObserved,
    TrafficSpeedObserved,
    TrafficViolationDetected,
    WifiUsageObserved,
    parse_event,
)
from ioc.keys import AGGREGATOR_GROUP, DOMAINS, Domain, Keys
from ioc.rules import (
    FloodHysteresis,
    StationAlarm,
    alarm_severity,
    next_congested,
    next_station_alarm,
    rain_class,
    speed_band,
)

log = logging.getLogger(__name__)

ROLLUP_RETENTION_S: Final = 26 * 3600  # a day of per-minute speeds, plus slack for late events
REPLAY_MIN_TTL_S: Final = 2 * 3600  # a replay of a past date keeps its roll-ups at least this long (wall time)
RAIN_WINDOW_H: Final = 24
OFFLINE_AFTER_MISSED: Final = 3  # a device is offline once it has missed this many expected reports
# Which kinds of sensor may send each data event (speed cameras measure passing traffic too).
SENSOR_KINDS_OF_EVENT: Final[dict[str, tuple[str, ...]]] = {
    "traffic.speed.observed": ("traffic_camera", "speed_camera"),
    "traffic.violation.detected": ("speed_camera",),
    "flood.water_level.observed": ("water_station",),
    "flood.rain.observed": ("rain_gauge",),
    "wifi.usage.observed": ("wifi_hotspot",),
}
HEAVY_RAIN: Final = ("heavy", "very_heavy")
Entry = tuple[str, dict[str, str] | None]


def rollup_ttl_s(minute: int, now: float) -> int:
    """Seconds a minute roll-up lives: a day after its event time, but never under two hours from now, so a
    training replay of a past date still shows its chart while bounded memory is kept."""
    return max(int(minute * 60 + ROLLUP_RETENTION_S - now), REPLAY_MIN_TTL_S)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(slots=True)
class _Parsed:
    """One stream entry after validation: the event, or why it was rejected."""

    entry_id: str
    fields: dict[str, str] | None
    event: Event | None = None
    reason: str | None = None
    at: float = 0.0  # event time, epoch seconds (computed once: datetime.timestamp() is not free)


@dataclass
class _BatchWrites:
    """Everything one batch will write, accumulated in memory and sent in one transaction."""

    latest: dict[str, Event] = field(default_factory=dict)  # newest event per sensor, serialised at write time
    lastseen: dict[str, float] = field(default_factory=dict)
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)
    stations: dict[str, dict[str, Any]] = field(default_factory=dict)
    gauges: dict[str, dict[str, Any]] = field(default_factory=dict)
    health: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (minute, segment) -> [Σ speed in tenths of km/h × weight, Σ weight]: increments, then totals once stored
    rollup: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    violations: Counter[str] = field(default_factory=Counter)
    alerts: list[dict[str, str]] = field(default_factory=list)
    active_set: dict[str, str] = field(default_factory=dict)
    active_del: set[str] = field(default_factory=set)
    deadletters: list[dict[str, str]] = field(default_factory=list)
    processed: int = 0
    clock: float | None = None


class Aggregator:
    """Consumes every domain's raw stream as one consumer of the aggregator group."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        city: City,
        *,
        consumer: str,
        batch_size: int = 500,
        claim_idle_ms: int = 60_000,
        alerts_maxlen: int = 10_000,
        deadletter_maxlen: int = 100_000,
        hysteresis: FloodHysteresis | None = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self.city = city
        self.consumer = consumer
        self.batch_size = batch_size
        self.claim_idle_ms = claim_idle_ms
        self.alerts_maxlen = alerts_maxlen
        self.deadletter_maxlen = deadletter_maxlen
        self.hysteresis = hysteresis or FloodHysteresis()
        self._last_claim = 0.0

    # -- group set-up and recovery ------------------------------------------------------------------------------

    def setup(self) -> None:
        """Create the consumer group on every raw stream (from the first entry), if it does not exist yet."""
        for domain in DOMAINS:
            try:
                self.client.xgroup_create(self.keys.events(domain), AGGREGATOR_GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def recover(self) -> int:
        """Re-process this consumer's own pending entries (read but never acknowledged before a crash)."""
        total = 0
        for domain in DOMAINS:
            while True:
                entries = self._read(domain, "0")
                if not entries:
                    break
                total += self._process(domain, entries)
        if total:
            log.info("recovered %d pending entries", total)
        return total

    def claim_stuck(self) -> int:
        """Take over entries left pending longer than claim_idle_ms by consumers that died, and process them."""
        total = 0
        for domain in DOMAINS:
            cursor = "0-0"
            while True:
                reply = self.client.xautoclaim(
                    self.keys.events(domain),
                    AGGREGATOR_GROUP,
                    self.consumer,
                    min_idle_time=self.claim_idle_ms,
                    start_id=cursor,
                    count=self.batch_size,
                )
                # Redis 6.2 replies [cursor, entries]; 7 adds a third item (deleted ids): take the first two.
                cursor, claimed = reply[0], reply[1]
                if claimed:
                    total += self._process(domain, [(entry_id, fields) for entry_id, fields in claimed])
                if cursor == "0-0":
                    break
        self._last_claim = time.monotonic()
        if total:
            log.warning("claimed and processed %d entries left by dead consumers", total)
        return total

    # -- the loop -----------------------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Read and process at most one new batch per domain; returns how many entries were handled."""
        total = 0
        for domain in DOMAINS:
            entries = self._read(domain, ">")
            if entries:
                total += self._process(domain, entries)
        return total

    def drain(self) -> int:
        """Process everything available now (pending, stuck, new) until the streams are empty; for tests and bench."""
        total = self.recover() + self.claim_stuck()
        while True:
            handled = self.run_once()
            if not handled:
                break
            total += handled
        self.check_devices()
        return total

    def run_forever(self, stop: threading.Event, idle_wait_s: float = 0.2, watchdog_every_s: float = 2.0) -> None:
        """Run until `stop` is set; survive Redis outages by waiting and retrying (the wall shows stale data)."""
        ready = False
        last_watchdog = 0.0
        backoff = 0.5
        while not stop.is_set():
            try:
                if not ready:
                    self.setup()
                    self.recover()
                    self.claim_stuck()
                    ready = True
                handled = self.run_once()
                now = time.monotonic()
                if now - self._last_claim >= self.claim_idle_ms / 2000:
                    self.claim_stuck()
                if now - last_watchdog >= watchdog_every_s:
                    self.check_devices()
                    last_watchdog = now
                self.heartbeat(handled)
                backoff = 0.5
                if not handled:
                    stop.wait(idle_wait_s)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("Redis unreachable (%s); retrying in %.1f s", exc, backoff)
                ready = False  # after an outage, re-check the group and our pending entries
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def heartbeat(self, handled: int) -> None:
        """Tell the pages this consumer is alive (and, if it handled events, that data is flowing)."""
        now = time.time()
        mapping: dict[str, str] = {"loop": f"{now:.3f}", "consumer": self.consumer}
        if handled:
            mapping["event"] = f"{now:.3f}"
        self.client.hset(self.keys.heartbeat(), mapping=mapping)

    def _read(self, domain: Domain, start: str) -> list[Entry]:
        reply = self.client.xreadgroup(
            AGGREGATOR_GROUP, self.consumer, {self.keys.events(domain): start}, count=self.batch_size
        )
        if not reply:
            return []
        entries: list[Entry] = reply[0][1]
        return entries

    # -- one batch ------------------------------------------------------------------------------------------------

    def _process(self, domain: Domain, entries: Sequence[Entry]) -> int:
        """Validate a batch, compute its effect on state and commit that with the XACK in one transaction."""
        parsed = [self._validate(domain, entry_id, fields) for entry_id, fields in entries]
        stream = self.keys.events(domain)
        ids = [p.entry_id for p in parsed]
        minutes = {int(p.at) // 60 for p in parsed if isinstance(p.event, TrafficSpeedObserved)}
        minute_keys = [self.keys.speed_minute(minute) for minute in sorted(minutes)]
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(*self._state_keys(domain), *minute_keys)
                    writes = self._apply(pipe, domain, parsed)
                    pipe.multi()
                    self._queue_writes(pipe, domain, writes)
                    pipe.xack(stream, AGGREGATOR_GROUP, *ids)
                    pipe.execute()
                    return len(ids)
                except redis.WatchError:
                    log.debug("state of %s changed under this batch; recomputing", domain)
                    continue

    def _state_keys(self, domain: Domain) -> list[str]:
        k = self.keys
        extra = {
            "traffic": [k.segments()],
            "flood": [k.stations(), k.gauges()],
            "wifi": [],
            "device": [k.health()],
        }[domain]
        return [k.lastseen(domain), k.stats(domain), *extra]

    def _validate(self, domain: Domain, entry_id: str, fields: dict[str, str] | None) -> _Parsed:
        if not fields:
            return _Parsed(entry_id, fields, reason="entry has no fields (deleted or trimmed before processing)")
        try:
            event = parse_event(fields)
        except InvalidEvent as exc:
            return _Parsed(entry_id, fields, reason=str(exc))
        expected = EVENT_DOMAINS[event.type]
        if expected != domain:
            return _Parsed(entry_id, fields, reason=f"{event.type} belongs on the {expected} stream, not {domain}")
        sensor = self.city.sensors.get(event.sensor)
        if sensor is None:
            return _Parsed(entry_id, fields, reason=f"unknown sensor {event.sensor!r}")
        allowed = SENSOR_KINDS_OF_EVENT.get(event.type)
        if allowed is not None and sensor.kind not in allowed:
            return _Parsed(entry_id, fields, reason=f"sensor {sensor.id} is a {sensor.kind}; {event.type} "
                                                    f"comes from a {' or '.join(allowed)}")
        if isinstance(event, TrafficSpeedObserved | TrafficViolationDetected) and event.segment not in sensor.segments:
            return _Parsed(entry_id, fields, reason=f"sensor {sensor.id} does not observe segment {event.segment!r}")
        return _Parsed(entry_id, fields, event=event, at=event.epoch)

    def _apply(self, pipe: redis.client.Pipeline, domain: Domain, parsed: list[_Parsed]) -> _BatchWrites:
        """Read the state this batch touches (under WATCH, in one round trip) and compute every write."""
        writes = _BatchWrites()
        events = [p.event for p in parsed if p.event is not None]
        reads = _ReadPlan()
        sensors = sorted({e.sensor for e in events})
        reads.add("lastseen", self.keys.lastseen(domain), sensors)
        _DomainState.plan(reads, self.keys, domain, events)
        rollup_reads: dict[int, list[str]] = {}
        for item in parsed:
            if isinstance(item.event, TrafficSpeedObserved):
                rollup_reads.setdefault(int(item.at) // 60, []).append(item.event.segment)
        for minute, segments in rollup_reads.items():
            names = [name for segment in dict.fromkeys(segments) for name in (f"{segment}:s", f"{segment}:w")]
            reads.add(f"minute:{minute}", self.keys.speed_minute(minute), names)
        values = reads.execute(pipe)
        seen: dict[str, float] = {s: float(v) for s, v in values.get("lastseen", {}).items() if v is not None}
        state = _DomainState.from_values(values)
        for item in parsed:
            if item.event is None:
                writes.deadletters.append(self._deadletter(domain, item, item.reason or "invalid"))
                continue
            try:
                self._apply_event(item.event, item.at, state, seen, writes)
            except Exception as exc:  # a bug must not stop the city picture: keep the event with the reason
                log.exception("failed to apply %s %s", domain, item.entry_id)
                writes.deadletters.append(self._deadletter(domain, item, f"internal error: {exc!r}"))
                continue
            writes.processed += 1
        writes.segments = state.changed("segments")
        writes.stations = state.changed("stations")
        writes.gauges = state.changed("gauges")
        writes.health = state.changed("health")
        # Increments become totals: one HSET per minute key costs Redis far less than an increment per field.
        for (minute, segment), totals in writes.rollup.items():
            stored = values[f"minute:{minute}"]
            totals[0] += int(stored.get(f"{segment}:s") or 0)
            totals[1] += int(stored.get(f"{segment}:w") or 0)
        return writes

    def _apply_event(
        self, event: Event, at: float, state: _DomainState, seen: dict[str, float], w: _BatchWrites
    ) -> None:
        sensor = self.city.sensors[event.sensor]
        w.clock = at if w.clock is None else max(w.clock, at)
        is_newest = at >= seen.get(event.sensor, float("-inf"))
        if isinstance(event, DeviceStatusChanged):
            self._apply_device_status(event, sensor, state, w)
            return
        if is_newest:
            seen[event.sensor] = at
            w.lastseen[event.sensor] = at
            w.latest[event.sensor] = event
        if isinstance(event, TrafficSpeedObserved):
            self._apply_speed(event, at, state, w)
        elif isinstance(event, TrafficViolationDetected):
            w.violations[f"camera:{event.sensor}"] += 1
            w.violations[f"class:{event.vehicle_class}"] += 1
            w.violations["total"] += 1
        elif isinstance(event, FloodWaterLevelObserved):
            self._apply_water_level(event, sensor, at, state, w)
        elif isinstance(event, FloodRainObserved):
            self._apply_rain(event, sensor, at, state, w)
        elif isinstance(event, WifiUsageObserved):
            pass  # latest reading and last-seen time are all the state wifi needs

    def _apply_speed(self, event: TrafficSpeedObserved, at: float, state: _DomainState, w: _BatchWrites) -> None:
        segment = self.city.segments[event.segment]
        weight = max(event.vehicles, 1)
        bucket = w.rollup.setdefault((int(at) // 60, event.segment), [0, 0])
        bucket[0] += round(event.speed_kmh * 10) * weight
        bucket[1] += weight
        current = state.get("segments", event.segment)
        if current.get("ts") is not None and at < current["ts"]:
            return  # a late reading adds to its minute's roll-up but does not move the live state back
        was = bool(current.get("congested", False))
        congested = next_congested(was, event.speed_kmh, segment.road_class)
        state.set(
            "segments",
            event.segment,
            {
                "speed": round(event.speed_kmh, 1),
                "band": speed_band(event.speed_kmh, segment.road_class),
                "congested": congested,
                "ts": at,
                "sensor": event.sensor,
            },
        )
        if congested != was:
            lat, lon = segment.midpoint
            alert_key = f"congestion:{segment.id}"
            self._alert(
                w, "traffic.congestion.changed", at, segment.id,
                old="congested" if was else "flowing", new="congested" if congested else "flowing",
                severity="warning" if congested else "info", lat=lat, lon=lon,
            )  # fmt: skip
            if congested:
                w.active_set[alert_key] = _dumps({"kind": "traffic.congestion.changed", "place": segment.id,
                                                  "severity": "warning", "since": at, "lat": lat, "lon": lon})
                w.active_del.discard(alert_key)
            else:
                w.active_del.add(alert_key)
                w.active_set.pop(alert_key, None)

    def _apply_water_level(
        self, event: FloodWaterLevelObserved, sensor: Sensor, at: float, state: _DomainState, w: _BatchWrites
    ) -> None:
        assert sensor.alarm_levels_m is not None  # guaranteed by the city loader for water stations
        current = state.get("stations", sensor.id)
        if current.get("ts") is not None and at < current["ts"]:
            return
        before = StationAlarm(alarm=int(current.get("alarm", 0)), below_since=current.get("below_since"))
        after = next_station_alarm(before, event.level_m, at, sensor.alarm_levels_m, self.hysteresis)
        state.set(
            "stations",
            sensor.id,
            {"level_m": round(event.level_m, 3), "alarm": after.alarm, "below_since": after.below_since, "ts": at},
        )
        if after.alarm != before.alarm:
            # Rising water takes the new level's severity; receding water is news, not an alarm.
            severity = alarm_severity(after.alarm) if after.alarm > before.alarm else "info"
            self._alert(
                w, "flood.level.changed", at, sensor.id, old=str(before.alarm), new=str(after.alarm),
                severity=severity, lat=sensor.lat, lon=sensor.lon,
            )  # fmt: skip
            alert_key = f"flood:{sensor.id}"
            if after.alarm >= 1:
                w.active_set[alert_key] = _dumps({"kind": "flood.level.changed", "place": sensor.id,
                                                  "severity": alarm_severity(after.alarm), "level": after.alarm,
                                                  "since": at, "lat": sensor.lat, "lon": sensor.lon})
                w.active_del.discard(alert_key)
            else:
                w.active_del.add(alert_key)
                w.active_set.pop(alert_key, None)

    def _apply_rain(
        self, event: FloodRainObserved, sensor: Sensor, at: float, state: _DomainState, w: _BatchWrites
    ) -> None:
        current = state.get("gauges", sensor.id)
        hours: dict[str, float] = dict(current.get("hours", {}))
        hour = int(at) // 3600
        hours[str(hour)] = round(hours.get(str(hour), 0.0) + event.rain_mm, 2)
        newest_hour = max(int(h) for h in hours)
        hours = {h: mm for h, mm in hours.items() if int(h) > newest_hour - RAIN_WINDOW_H}
        total = round(sum(hours.values()), 2)
        old_class = current.get("rain_class", "none")
        new_class = rain_class(total)
        state.set(
            "gauges",
            sensor.id,
            {
                "hours": hours,
                "rain_1h_mm": hours.get(str(newest_hour), 0.0),
                "rain_24h_mm": total,
                "rain_class": new_class,
                "ts": max(at, current.get("ts") or at),
            },
        )
        if new_class != old_class and (new_class in HEAVY_RAIN or old_class in HEAVY_RAIN):
            self._alert(
                w, "flood.rain.changed", at, sensor.id, old=old_class, new=new_class,
                severity="warning" if new_class in HEAVY_RAIN else "info", lat=sensor.lat, lon=sensor.lon,
            )  # fmt: skip

    def _apply_device_status(
        self, event: DeviceStatusChanged, sensor: Sensor, state: _DomainState, w: _BatchWrites
    ) -> None:
        at = event.epoch
        current = state.get("health", sensor.id)
        if current.get("ts") is not None and at < current["ts"]:
            return
        old = current.get("status", "unknown")
        reason = f"reported: {event.detail}" if event.detail else "reported"
        state.set("health", sensor.id, {"status": event.status, "since": at, "reason": reason, "ts": at})
        if event.status != old:
            self._device_alert(w, sensor, at, old, event.status)

    def _device_alert(self, w: _BatchWrites, sensor: Sensor, at: float, old: str, new: str) -> None:
        self._alert(
            w, "device.health.changed", at, sensor.id, old=old, new=new,
            severity="info" if new == "online" else "warning", lat=sensor.lat, lon=sensor.lon,
        )  # fmt: skip
        alert_key = f"device:{sensor.id}"
        if new == "online":
            w.active_del.add(alert_key)
            w.active_set.pop(alert_key, None)
        else:
            w.active_set[alert_key] = _dumps({"kind": "device.health.changed", "place": sensor.id,
                                              "severity": "warning", "status": new, "since": at,
                                              "lat": sensor.lat, "lon": sensor.lon})
            w.active_del.discard(alert_key)

    @staticmethod
    def _alert(
        w: _BatchWrites, kind: str, at: float, place: str, *, old: str, new: str, severity: str, lat: float, lon: float
    ) -> None:
        w.alerts.append({
            "kind": kind, "ts": f"{at:.3f}", "place": place, "old": old, "new": new,
            "severity": severity, "lat": f"{lat:.6f}", "lon": f"{lon:.6f}",
        })  # fmt: skip

    def _deadletter(self, domain: Domain, item: _Parsed, reason: str) -> dict[str, str]:
        return {
            "reason": reason,
            "stream": self.keys.events(domain),
            "entry_id": item.entry_id,
            "fields": _dumps(item.fields or {}),
            "at": f"{time.time():.3f}",
        }

    def _queue_writes(self, pipe: redis.client.Pipeline, domain: Domain, w: _BatchWrites) -> None:
        """Queue the batch's writes inside MULTI; hash fields are grouped into one command per key."""
        k = self.keys
        if w.latest:
            pipe.hset(k.latest(domain), mapping={s: _dumps(_reading(e)) for s, e in w.latest.items()})
        if w.lastseen:
            pipe.hset(k.lastseen(domain), mapping={s: f"{t:.3f}" for s, t in w.lastseen.items()})
        if w.segments:
            pipe.hset(k.segments(), mapping={s: _dumps(v) for s, v in w.segments.items()})
        if w.stations:
            pipe.hset(k.stations(), mapping={s: _dumps(v) for s, v in w.stations.items()})
        if w.gauges:
            pipe.hset(k.gauges(), mapping={s: _dumps(v) for s, v in w.gauges.items()})
        if w.health:
            pipe.hset(k.health(), mapping={s: _dumps(v) for s, v in w.health.items()})
        totals: dict[int, dict[str, int]] = {}
        for (minute, segment), (speed_sum, weight) in w.rollup.items():
            fields = totals.setdefault(minute, {})
            fields[f"{segment}:s"] = speed_sum
            fields[f"{segment}:w"] = weight
        for minute, fields in totals.items():
            pipe.hset(k.speed_minute(minute), mapping=fields)
            pipe.expire(k.speed_minute(minute), rollup_ttl_s(minute, time.time()))
        for name, count in w.violations.items():
            pipe.hincrby(k.violations(), name, count)
        for alert in w.alerts:
            pipe.xadd(k.alerts(domain), alert, maxlen=self.alerts_maxlen, approximate=True)
        if w.active_set:
            pipe.hset(k.active(domain), mapping=w.active_set)
        if w.active_del:
            pipe.hdel(k.active(domain), *w.active_del)
        for dead in w.deadletters:
            pipe.xadd(k.deadletter(domain), dead, maxlen=self.deadletter_maxlen, approximate=True)
        if w.processed:
            pipe.hincrby(k.stats(domain), "processed", w.processed)
        if w.deadletters:
            pipe.hincrby(k.stats(domain), "deadletter", len(w.deadletters))
        if w.alerts:
            pipe.hincrby(k.stats(domain), "alerts", len(w.alerts))
        if w.clock is not None:
            # Monotonic clock: a batch of late events never moves it back (Lua keeps the max inside MULTI).
            pipe.eval(_MAX_CLOCK_LUA, 1, k.stats(domain), f"{w.clock:.3f}")

    # -- device watchdog ------------------------------------------------------------------------------------------

    def check_devices(self) -> int:
        """Mark devices offline that missed several expected reports, and back online once data arrives again.

        Runs on the city clock (newest event time of any domain), so a sped-up simulation behaves as real time.
        Returns the number of health changes written.
        """
        k = self.keys
        reads = self.client.pipeline(transaction=False)
        for domain in DOMAINS:
            reads.hget(k.stats(domain), "clock")
        for domain in ("traffic", "flood", "wifi"):
            reads.hgetall(k.lastseen(domain))
        replies = reads.execute()
        clocks = [float(c) for c in replies[: len(DOMAINS)] if c is not None]
        if not clocks:
            return 0
        clock = max(clocks)
        lastseen: dict[str, float] = {}
        for mapping in replies[len(DOMAINS) :]:
            lastseen.update({s: float(t) for s, t in mapping.items()})
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(k.health())
                    health = {s: json.loads(v) for s, v in pipe.hgetall(k.health()).items()}
                    writes = _BatchWrites()
                    for sensor in self.city.sensors.values():
                        self._watch_one(sensor, clock, lastseen.get(sensor.id), health.get(sensor.id), writes)
                    if not writes.health:
                        pipe.unwatch()
                        return 0
                    pipe.multi()
                    pipe.hset(k.health(), mapping={s: _dumps(v) for s, v in writes.health.items()})
                    self._queue_alerts(pipe, "device", writes)
                    pipe.execute()
                    return len(writes.health)
                except redis.WatchError:
                    continue

    def _watch_one(
        self, sensor: Sensor, clock: float, last: float | None, current: dict[str, Any] | None, w: _BatchWrites
    ) -> None:
        if last is None:
            return  # never reported: shown as unknown, not as a failure of something that worked
        status = current.get("status", "unknown") if current else "unknown"
        since = float(current.get("since", 0.0)) if current else 0.0
        overdue = clock - last > OFFLINE_AFTER_MISSED * sensor.report_interval_s
        if status in ("online", "unknown") and overdue:
            w.health[sensor.id] = {"status": "offline", "since": clock, "reason": "missed-reports", "ts": clock,
                                   "last_report": last}
            self._device_alert(w, sensor, clock, status, "offline")
        elif status == "offline" and last > since and not overdue:
            w.health[sensor.id] = {"status": "online", "since": last, "reason": "reporting", "ts": last}
            self._device_alert(w, sensor, last, status, "online")
        elif status == "unknown" and not overdue:
            w.health[sensor.id] = {"status": "online", "since": last, "reason": "reporting", "ts": last}

    def _queue_alerts(self, pipe: redis.client.Pipeline, domain: Domain, w: _BatchWrites) -> None:
        k = self.keys
        for alert in w.alerts:
            pipe.xadd(k.alerts(domain), alert, maxlen=self.alerts_maxlen, approximate=True)
        if w.active_set:
            pipe.hset(k.active(domain), mapping=w.active_set)
        if w.active_del:
            pipe.hdel(k.active(domain), *w.active_del)
        if w.alerts:
            pipe.hincrby(k.stats(domain), "alerts", len(w.alerts))


_MAX_CLOCK_LUA: Final = """
local current = redis.call('HGET', KEYS[1], 'clock')
if (not current) or tonumber(ARGV[1]) > tonumber(current) then
  redis.call('HSET', KEYS[1], 'clock', ARGV[1])
end
return 0
"""


_HMGET_MANY_LUA: Final = """
local out = {}
local pos = 1
for i, key in ipairs(KEYS) do
  local n = tonumber(ARGV[pos])
  local values = {}
  for first = 1, n, 1000 do
    local last = math.min(first + 999, n)
    local part = redis.call('HMGET', key, unpack(ARGV, pos + first, pos + last))
    for _, value in ipairs(part) do values[#values + 1] = value end
  end
  out[i] = values
  pos = pos + n + 1
end
return out
"""


class _ReadPlan:
    """Hash fields to read from several keys of one slot, fetched in a single round trip (a read-only script)."""

    def __init__(self) -> None:
        self._requests: list[tuple[str, str, list[str]]] = []

    def add(self, name: str, key: str, fields: list[str]) -> None:
        """Ask for `fields` of hash `key`, returned under `name`."""
        if fields:
            self._requests.append((name, key, fields))

    def execute(self, pipe: redis.client.Pipeline) -> dict[str, dict[str, str | None]]:
        """Run the reads (in immediate mode under WATCH) and map each name to {field: value or None}."""
        if not self._requests:
            return {}
        args: list[str | int] = []
        for _, _, fields in self._requests:
            args.append(len(fields))
            args.extend(fields)
        keys = [key for _, key, _ in self._requests]
        replies = pipe.eval(_HMGET_MANY_LUA, len(keys), *keys, *args)
        return {
            name: dict(zip(fields, reply, strict=True))
            for (name, _, fields), reply in zip(self._requests, replies, strict=True)
        }


def _reading(event: Event) -> dict[str, Any]:
    """The measured values of an event with its time, for the latest-reading hash."""
    data = event.model_dump(exclude={"v", "ts", "sensor"})
    data["ts"] = event.epoch
    return data


class _DomainState:
    """The derived state one batch reads and changes: loaded once (under WATCH), written back only if changed."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, dict[str, Any]]] = {"segments": {}, "stations": {}, "gauges": {}, "health": {}}
        self._changed: dict[str, set[str]] = {name: set() for name in self._data}

    @staticmethod
    def plan(reads: _ReadPlan, keys: Keys, domain: Domain, events: Iterable[Event]) -> None:
        """Ask for only the entries of the ids the batch's events refer to."""
        events = list(events)
        if domain == "traffic":
            reads.add("segments", keys.segments(), sorted({e.segment for e in events
                                                           if isinstance(e, TrafficSpeedObserved)}))
        elif domain == "flood":
            reads.add("stations", keys.stations(), sorted({e.sensor for e in events
                                                           if isinstance(e, FloodWaterLevelObserved)}))
            reads.add("gauges", keys.gauges(), sorted({e.sensor for e in events if isinstance(e, FloodRainObserved)}))
        elif domain == "device":
            reads.add("health", keys.health(), sorted({e.sensor for e in events}))

    @classmethod
    def from_values(cls, values: dict[str, dict[str, str | None]]) -> _DomainState:
        """State from what the read plan returned (JSON per id)."""
        state = cls()
        for name in state._data:
            state._data[name] = {i: json.loads(v) for i, v in values.get(name, {}).items() if v is not None}
        return state

    def get(self, name: str, item: str) -> dict[str, Any]:
        """Current state of one item of a kind (segments, stations, gauges, health); {} if never seen."""
        return self._data[name].get(item, {})

    def set(self, name: str, item: str, value: dict[str, Any]) -> None:
        """Replace one item's state and remember to write it back."""
        self._data[name][item] = value
        self._changed[name].add(item)

    def changed(self, name: str) -> dict[str, dict[str, Any]]:
        """Items of a kind whose state this batch changed."""
        return {i: self._data[name][i] for i in self._changed[name]}


def tune_gc() -> None:
    """Collect garbage less often: each batch allocates thousands of short-lived objects, and the default
    thresholds made the collector rescan the city model and batch state many times per batch (measured: about
    +45% events/s with these thresholds, see docs/BENCHMARKS.md)."""
    gc.collect()
    gc.freeze()  # the city model and imports live for the whole process: keep them out of every collection
    gc.set_threshold(100_000, 50, 50)


def run_aggregator(settings: Any, stop: threading.Event) -> None:
    """Entry point of the aggregator process: connect, join the group, run until stop is set."""
    from ioc.city import cached_city
    from ioc.store import connect

    client = connect(settings)
    city = cached_city(settings.city_dir)
    tune_gc()
    aggregator = Aggregator(
        client,
        Keys(settings.namespace),
        city,
        consumer=settings.consumer_name,
        batch_size=settings.batch_size,
        claim_idle_ms=settings.claim_idle_ms,
        alerts_maxlen=settings.alerts_maxlen,
        deadletter_maxlen=settings.deadletter_maxlen,
    )
    log.info("aggregator %s consuming namespace %r", settings.consumer_name, settings.namespace)
    aggregator.run_forever(stop)
    client.close()
