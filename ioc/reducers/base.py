"""What the aggregator's engine hands a domain reducer and takes back: the batch being computed, and the shape of a
reducer. A reducer holds one domain's rules; the engine (ioc/aggregator/) holds exactly-once delivery."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ioc.city import City, Sensor
from ioc.documents import Alert, AlertKind, encode_active
from ioc.events import Flat, Reading
from ioc.keys import Domain, Keys, StateHash
from ioc.rules import FloodHysteresis, Severity

log = logging.getLogger(__name__)

Checked = tuple[str, Flat, Reading]  # a valid entry: its id, its fields as read, its reading
Minutes = dict[int, dict[str, list[int]]]  # epoch minute -> item -> [sum, weight] (format in ioc/rollup.py)


@dataclass
class Batch:
    """One batch being computed: reducers change the domain's state in place (the engine's copy) and record here
    what changed, so the engine can write exactly that with the batch's XACK."""

    state: dict[StateHash, dict[str, Any]]  # state hash name -> item id -> document, as committed so far
    minutes: Minutes  # the roll-up minutes the batch touches, as committed so far
    changed: defaultdict[StateHash, set[str]] = field(default_factory=lambda: defaultdict(set))  # hash -> ids
    rollup_changed: dict[int, set[str]] = field(default_factory=dict)  # minute -> items whose totals changed
    latest: dict[str, Reading] = field(default_factory=dict)  # newest reading per sensor in this batch
    counters: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # key -> counts
    alerts: list[dict[str, str]] = field(default_factory=list)
    active_set: dict[str, str] = field(default_factory=dict)
    active_del: set[str] = field(default_factory=set)
    rejected: list[tuple[str, Flat, str]] = field(default_factory=list)  # entry id, fields, reason
    processed: int = 0
    clock: float | None = None  # newest event time applied

    def see(self, reading: Reading) -> None:
        """Note a sensor's report: its newest reading and last-seen time (never moved back by a late one)."""
        lastseen = self.state["lastseen"]
        last = lastseen.get(reading.sensor)
        if last is None or reading.at >= last:
            lastseen[reading.sensor] = reading.at
            self.latest[reading.sensor] = reading

    def alert(self, alert: Alert) -> None:
        """Append a level change to the domain's alerts stream."""
        self.alerts.append(alert.stream_fields())

    def activate(self, alert_key: str, alert: Alert) -> None:
        """Mark an alert active (kept in the domain's active-alert hash until deactivated)."""
        self.active_set[alert_key] = encode_active(alert)
        self.active_del.discard(alert_key)

    def deactivate(self, alert_key: str) -> None:
        """Mark an alert no longer active."""
        self.active_del.add(alert_key)
        self.active_set.pop(alert_key, None)

    def each(self, domain: Domain, readings: list[Checked], apply: Callable[[Reading], None]) -> None:
        """Apply readings in order, counting them; one that fails (a bug) becomes a dead letter, the rest go on."""
        for entry_id, flat, reading in readings:
            try:
                if self.clock is None or reading.at > self.clock:
                    self.clock = reading.at
                apply(reading)
            except Exception as exc:  # a bug must not stop the city picture: keep the event with the reason
                self.fail(domain, entry_id, flat, exc)
                continue
            self.processed += 1

    def fail(self, domain: Domain, entry_id: str, flat: Flat, exc: Exception) -> None:
        """A reading the rules failed on: logged, and kept as a dead letter with the error."""
        log.exception("failed to apply %s %s", domain, entry_id)
        self.rejected.append((entry_id, flat, f"internal error: {exc!r}"))


def alert_at(
    kind: AlertKind, at: float, place: str, old: str, new: str, severity: Severity, lat: float, lon: float, **extra: Any
) -> Alert:
    """An alert of a level change (extra: what an active alert also says, e.g. the flood level)."""
    return Alert(kind=kind, ts=at, place=place, old=old, new=new, severity=severity, lat=lat, lon=lon, **extra)


def sensor_alert(
    kind: AlertKind, at: float, sensor: Sensor, old: str, new: str, severity: Severity, **extra: Any
) -> Alert:
    """An alert placed at a sensor."""
    return alert_at(kind, at, sensor.id, old, new, severity, sensor.lat, sensor.lon, **extra)


class Reducer:
    """One domain's rules: the state its batches read and write, which sensors may send which events, and how a
    batch of valid readings changes that state. The engine loads the state, calls apply() and commits the result
    atomically with the batch's XACK; a reducer does no I/O."""

    domain: ClassVar[Domain]
    state: ClassVar[tuple[StateHash, ...]]  # derived-state hashes its batches read and write
    sources: ClassVar[Mapping[str, tuple[str, ...]]]  # event type -> kinds of sensor that may send it

    def __init__(self, city: City, keys: Keys, hysteresis: FloodHysteresis) -> None:
        self.city = city
        self.keys = keys
        self.hysteresis = hysteresis

    def rollup_minutes(self, readings: list[Checked]) -> list[int]:
        """The epoch minutes whose roll-ups a batch adds to (they are loaded before apply), in order."""
        return []

    def rollup_key(self, minute: int) -> str:
        """The key of one minute's roll-up hash."""
        raise NotImplementedError(f"{self.domain} keeps no roll-ups")

    def apply(self, readings: list[Checked], batch: Batch) -> None:
        """Apply a batch's readings, in order, to the state in `batch`."""
        raise NotImplementedError

    def watch(self, clock: float, lastseen: Mapping[str, float], batch: Batch) -> None:
        """A periodic check on the city clock with every sensor's last report (the device watchdog)."""

    watches: ClassVar[bool] = False  # whether watch() does anything
