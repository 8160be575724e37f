"""Traffic: per-minute speed roll-ups, each segment's live speed band and congestion (with hysteresis), and speed
violation counters. Speed readings are the bulk of all events, so apply() is one tight loop."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar, Final

from ioc.documents import SegmentDoc
from ioc.events import Reading
from ioc.reducers.base import Batch, Checked, Reducer, alert_at, sensor_alert
from ioc.rules import next_congested, speed_band

SPEED: Final = "traffic.speed.observed"
VIOLATION: Final = "traffic.violation.detected"


class TrafficReducer(Reducer):
    """Speeds and violations from traffic and speed cameras."""

    domain = "traffic"
    state = ("lastseen", "segments")
    sources: ClassVar[Mapping[str, tuple[str, ...]]] = {
        SPEED: ("traffic_camera", "speed_camera"),  # speed cameras measure passing traffic too
        VIOLATION: ("speed_camera",),
    }

    def rollup_minutes(self, readings: list[Checked]) -> list[int]:
        """The minutes of the batch's speed readings."""
        return sorted({int(r.at) // 60 for _, _, r in readings if r.type == SPEED})

    def rollup_key(self, minute: int) -> str:
        """One minute's speed roll-up."""
        return self.keys.speed_minute(minute)

    def apply(self, readings: list[Checked], b: Batch) -> None:
        """Speeds add to their minute's roll-up and move each segment's live state (never back: a late reading
        counts in its minute only); violations count per camera and vehicle class."""
        lastseen = b.state["lastseen"]
        segments = b.state["segments"]
        minutes = b.minutes
        rollup_changed = b.rollup_changed
        latest = b.latest
        violations = b.counters[self.keys.violations()]
        city_segments = self.city.segments
        # segment -> (time, congested, speed, sensor) of its newest reading so far; speed None: the stored state
        newest: dict[str, tuple[float, bool, float | None, str]] = {}
        for entry_id, flat, r in readings:
            try:
                at = r.at
                if b.clock is None or at > b.clock:
                    b.clock = at
                last = lastseen.get(r.sensor)
                if last is None or at >= last:
                    lastseen[r.sensor] = at
                    latest[r.sensor] = r
                if r.type == SPEED:
                    values = r.values
                    segment_id: str = values["segment"]
                    speed: float = values["speed_kmh"]
                    weight: int = values["vehicles"] or 1  # a report of an empty road still counts once
                    minute = int(at) // 60
                    totals = minutes[minute]
                    pair = totals.get(segment_id)
                    if pair is None:
                        totals[segment_id] = pair = [0, 0]
                    pair[0] += round(speed * 10) * weight
                    pair[1] += weight
                    changed = rollup_changed.get(minute)
                    if changed is None:
                        rollup_changed[minute] = changed = set()
                    changed.add(segment_id)
                    before = newest.get(segment_id)
                    if before is None:
                        stored = segments.get(segment_id, {})
                        stored_at = stored.get("ts")
                        before = (
                            stored_at if stored_at is not None else -math.inf,
                            bool(stored.get("congested", False)),
                            None,
                            "",
                        )
                    if at < before[0]:
                        b.processed += 1
                        continue  # a late reading adds to its minute's roll-up but does not move the live state back
                    congested = next_congested(before[1], speed, city_segments[segment_id].road_class)
                    if congested != before[1]:
                        self._congestion_changed(segment_id, at, congested, b)
                    newest[segment_id] = (at, congested, speed, r.sensor)
                elif r.type == VIOLATION:
                    violations[f"camera:{r.sensor}"] += 1
                    violations[f"class:{r.values['vehicle_class']}"] += 1
                    violations["total"] += 1
                    self._violation(r, b)
            except Exception as exc:
                b.fail(self.domain, entry_id, flat, exc)
                continue
            b.processed += 1
        for segment_id, (at, congested, newest_speed, sensor) in newest.items():
            if newest_speed is not None:
                road_class = city_segments[segment_id].road_class
                doc: SegmentDoc = {
                    "speed": round(newest_speed, 1),
                    "band": speed_band(newest_speed, road_class),
                    "congested": congested,
                    "ts": at,
                    "sensor": sensor,
                }
                segments[segment_id] = doc
                b.changed["segments"].add(segment_id)

    def _violation(self, r: Reading, b: Batch) -> None:
        """Each violation is an alert (info), so the incident engine can see a burst at one camera."""
        values = r.values
        b.alert(
            sensor_alert(
                "traffic.violation.detected",
                r.at,
                self.city.sensors[r.sensor],
                f"{values['limit_kmh']:g}",
                f"{values['speed_kmh']:g}",
                "info",
            )
        )

    def _congestion_changed(self, segment_id: str, at: float, congested: bool, b: Batch) -> None:
        segment = self.city.segments[segment_id]
        lat, lon = segment.midpoint
        old, new = ("flowing", "congested") if congested else ("congested", "flowing")
        b.alert(
            alert_at(
                "traffic.congestion.changed", at, segment.id, old, new, "warning" if congested else "info", lat, lon
            )
        )
        alert_key = f"congestion:{segment.id}"
        if congested:
            b.activate(alert_key, alert_at("traffic.congestion.changed", at, segment.id, old, new, "warning", lat, lon))
        else:
            b.deactivate(alert_key)
