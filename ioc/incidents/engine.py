"""The incident engine: one process (`ioc incidents-engine`) that reads every domain's alerts stream with its own
consumer group and turns the alerts that matter into incidents.

Exactly once, even after a crash: each alert applied is stored with its stream entry as a unique key, in the same
database transaction as the incident changes it caused, and acknowledged in Redis only after that commit. An
entry delivered again (the engine died between commit and XACK, or another engine claimed it) finds its key
taken and changes nothing. Two engines can run at once: each transaction first locks the places (type and place)
it touches (`lock_places`), so counters and pending conditions are changed by one engine at a time, and a conflict
(a person changing an incident the engine is attaching to, or reopening one) rolls the whole batch back and it is
applied again.

Rules (thresholds in the settings; what each alert kind means is one entry of KIND_RULES): a station at BĐ II or
above (IOC_INCIDENT_FLOOD_ALARM) and a heavy-rain class open an incident at once; congestion and a device offline
only once they last (IOC_INCIDENT_CONGESTION_S, IOC_INCIDENT_OFFLINE_S, on the city clock, so a sped-up simulation
behaves as real time would); speed violations once a camera records IOC_INCIDENT_VIOLATIONS within
IOC_INCIDENT_VIOLATIONS_WINDOW_S. While an incident of the
same type and place is open, alerts attach to it (raising its severity when worse); when the condition clears the
incident says so, and a person still resolves it. Time limits are checked on the wall clock, since people act in
real time: a missed limit marks the incident overdue and raises its severity, once per limit.

A training exercise's namespace has an engine of its own (one per namespace, in the same process: `run_engine`
follows the active exercises): its incidents, pending conditions and audit rows carry the exercise's id, its open
keys start with `x<id>:`, and its times (opened_at, the limits, the overdue check) are on the exercise's simulated
clock (the namespace's declared clock, standing still while the exercise is paused), so a drill at x60 counts its
limits as the real day would.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import orjson
import redis
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ioc import audit
from ioc.city import City
from ioc.clock import read_timebase
from ioc.cluster import Client
from ioc.db import Database, utcnow
from ioc.documents import Alert, AlertKind, decode_stream_alert
from ioc.errors import DatabaseError
from ioc.events import deadletter_copy
from ioc.incidents.lifecycle import OBJECT_TYPE, audited, clock_at, new_row, open_key
from ioc.incidents.model import OPEN_STATUSES, Limits, Status, raised, worse
from ioc.incidents.places import place_of
from ioc.incidents.tables import IncidentAlertRow, IncidentConditionRow, IncidentRow
from ioc.keys import DOMAINS, INCIDENTS_GROUP, Domain, Keys
from ioc.metrics import ALERT_ROWS_PRUNED, INCIDENT_ALERTS_APPLIED, INCIDENTS_OPENED
from ioc.rules import Severity
from ioc.settings import Settings
from ioc.streams import ConsumerSet, Entry, StreamConsumer
from ioc.streams.replies import as_dict

log = logging.getLogger(__name__)

ACTOR: Final = "incident-engine"
MAX_VALUE_CHARS: Final = 32
MAX_REASON_CHARS: Final = 500
LATEST_TS: Final = 7_258_118_400.0  # 2200-01-01: an alert time beyond it is damaged, whatever wrote it
MAX_RETRIES: Final = 5  # a batch refused for a conflict this many times in a row waits for the next round
# Cleared incidents nobody acknowledged: only those that never went past these are resolved by the engine; a
# critical one always waits for a person.
AUTO_RESOLVED_SEVERITIES: Final = ("info", "warning")
AUTO_RESOLVE_TEXT: Final = (
    "Hệ thống tự xử lý: tình trạng đã trở lại bình thường và không ai xác nhận. "
    "Resolved by the system: back to normal, and nobody acknowledged it."
)
PRUNE_EVERY_S: Final = 3600.0  # how often applied alerts past their retention are removed
PRUNE_BATCH: Final = 5_000  # rows per delete transaction, so a first prune of a big table never holds locks long
PLACE_LOCKS: Final = 0x10C1  # the space (first key) of the PostgreSQL advisory locks taken per type and place

Verb = Literal["raise", "start", "clear", "count", "note"]


@dataclass(frozen=True)
class Rules:
    """The engine's thresholds, from the settings."""

    flood_alarm: int = 2
    congestion_s: float = 900.0
    offline_s: float = 900.0
    violations: int = 5
    violations_window_s: float = 600.0

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        """The rules the settings give."""
        return cls(
            settings.incident_flood_alarm,
            settings.incident_congestion_s,
            settings.incident_offline_s,
            settings.incident_violations,
            settings.incident_violations_window_s,
        )


@dataclass(frozen=True)
class Decision:
    """What an alert means for incidents: raise (open or attach now), start (a condition that must last), clear
    (the condition ended), count (one more in a burst), note (attach if open, else nothing)."""

    verb: Verb
    incident_type: str
    severity: Severity = "warning"


Reading = Callable[[Alert, Rules], tuple[Verb, Severity]]


@dataclass(frozen=True)
class KindRule:
    """What one alert kind means for incidents, the only part of the engine that differs from kind to kind: the
    incident type it concerns, how an alert of it reads (its verb and severity, see Decision), and for a condition
    that opens an incident only once it lasts or repeats, how long or how often (from the settings' thresholds)."""

    incident_type: str
    read: Reading
    lasting_s: Callable[[Rules], float] | None = None  # 'start': how long the condition lasts before it opens
    burst: Callable[[Rules], tuple[int, float]] | None = None  # 'count': how many within how many seconds open


def _flood_level(alert: Alert, rules: Rules) -> tuple[Verb, Severity]:
    """BĐ at or above the threshold opens at once (BĐ III critical), BĐ 0 clears, a level in between is noted."""
    level = alert.new_alarm() or 0
    if level >= rules.flood_alarm:
        return "raise", "critical" if level >= 3 else "warning"
    return ("clear", "warning") if level == 0 else ("note", "info")


def at_once(incident_type: str, severities: Mapping[str, Severity]) -> KindRule:
    """A condition that opens an incident at once while the alert's new value is one of `severities` (with that
    severity), and clears on any other value."""

    def read(alert: Alert, _rules: Rules) -> tuple[Verb, Severity]:
        severity = severities.get(alert.new)
        return ("clear", "warning") if severity is None else ("raise", severity)

    return KindRule(incident_type, read)


def lasting(incident_type: str, values: tuple[str, ...], seconds: Callable[[Rules], float]) -> KindRule:
    """A condition that holds while the alert's new value is one of `values` and opens an incident once it has held
    `seconds` (city clock); any other value clears it."""

    def read(alert: Alert, _rules: Rules) -> tuple[Verb, Severity]:
        return ("start" if alert.new in values else "clear"), "warning"

    return KindRule(incident_type, read, lasting_s=seconds)


def burst(incident_type: str, size: Callable[[Rules], tuple[int, float]]) -> KindRule:
    """Events that open an incident once enough of them fall within a window at one place (`size`: how many, and
    the window in seconds)."""

    def read(_alert: Alert, _rules: Rules) -> tuple[Verb, Severity]:
        return "count", "warning"

    return KindRule(incident_type, read, burst=size)


# Alert kind -> what it means for incidents. A new kind is one entry here (and its type in model.ENGINE_TYPES).
KIND_RULES: Final[Mapping[AlertKind, KindRule]] = {
    "flood.level.changed": KindRule("flood", _flood_level),
    "flood.rain.changed": at_once("heavy_rain", {"heavy": "warning", "very_heavy": "critical"}),
    "traffic.congestion.changed": lasting("congestion", ("congested",), lambda rules: rules.congestion_s),
    "device.health.changed": lasting("device_offline", ("offline", "fault"), lambda rules: rules.offline_s),
    "traffic.violation.detected": burst(
        "speed_violations", lambda rules: (rules.violations, rules.violations_window_s)
    ),
}
_LASTING: Final = {rule.incident_type: rule.lasting_s for rule in KIND_RULES.values() if rule.lasting_s}
_BURSTS: Final = {rule.incident_type: rule.burst for rule in KIND_RULES.values() if rule.burst}


def decide(alert: Alert, rules: Rules) -> Decision | None:
    """The decision an alert leads to, or None when it concerns no incident."""
    rule = KIND_RULES.get(alert.kind)
    if rule is None:  # a kind that concerns no incident
        return None
    verb, severity = rule.read(alert, rules)
    return Decision(verb, rule.incident_type, severity)


def lasting_s(incident_type: str, rules: Rules) -> float | None:
    """How long a condition of this type must last before it opens an incident; None if it opens no other way."""
    seconds = _LASTING.get(incident_type)
    return None if seconds is None else seconds(rules)


def burst_size(incident_type: str, rules: Rules) -> tuple[int, float] | None:
    """How many events of this type within how many seconds open an incident; None if it is no burst."""
    size = _BURSTS.get(incident_type)
    return None if size is None else size(rules)


def as_utc(ts: float) -> datetime:
    """An epoch time as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def alert_problem(alert: Alert | None, city: City) -> str:
    """Why an alerts stream entry cannot be applied ("" if it can): the engine keeps it as a dead letter."""
    if alert is None:
        return "not an alert: unknown kind or a field that is not a number"
    if not math.isfinite(alert.ts) or not 0 < alert.ts < LATEST_TS:
        return f"alert time {alert.ts!r} is out of range"
    if alert.place not in city.sensors and alert.place not in city.segments:
        return f"unknown place {alert.place[:64]!r}"
    for name, value in (("old", alert.old), ("new", alert.new)):
        if len(value) > MAX_VALUE_CHARS:
            return f"field {name!r} is longer than {MAX_VALUE_CHARS} characters"
        try:
            value.encode()
        except UnicodeEncodeError:
            return f"field {name!r} is not valid UTF-8"
    return ""


@dataclass
class _Applied:
    """What one batch did, for the log and the tests."""

    opened: int = 0
    attached: int = 0
    skipped: int = 0  # entries applied before (a redelivery)
    rejected: int = 0


@dataclass
class _Batch:
    """One batch's transaction. Nothing is flushed until finish(), so each incident gets exactly one INSERT or one
    versioned UPDATE per batch and one audit row for everything the batch did to it (the alerts it took)."""

    session: Session
    rules: Rules
    limits: Limits
    city: City
    now: datetime
    exercise: int | None = None  # the training exercise the batch works in; None: live
    open_by_key: dict[str, IncidentRow | None] = field(default_factory=dict)
    new_rows: list[IncidentRow] = field(default_factory=list)
    before: dict[int, dict[str, Any]] = field(default_factory=dict)  # existing incident id -> audited fields
    taken: dict[int, int] = field(default_factory=dict)  # id(row) -> alerts attached in this batch
    entries: dict[int, list[str]] = field(default_factory=dict)  # id(row) -> their stream entries
    conditions: dict[str, IncidentConditionRow | None] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)
    alert_rows: list[tuple[IncidentAlertRow, IncidentRow | None]] = field(default_factory=list)
    links: list[tuple[IncidentRow, str, datetime]] = field(default_factory=list)
    applied: _Applied = field(default_factory=_Applied)

    def open_incident(self, key: str) -> IncidentRow | None:
        """The open incident holding `key`, if any (looked up once per batch, then kept)."""
        if key not in self.open_by_key:
            self.open_by_key[key] = self.session.scalar(sa.select(IncidentRow).where(IncidentRow.open_key == key))
        return self.open_by_key[key]

    def condition(self, key: str) -> IncidentConditionRow | None:
        """The pending condition of `key`, if any (as this batch left it)."""
        if key in self.dropped:
            return None
        if key not in self.conditions:
            self.conditions[key] = self.session.get(IncidentConditionRow, key)
        return self.conditions[key]

    def start_condition(self, key: str, incident_type: str, alert: Alert, severity: Severity) -> IncidentConditionRow:
        """A condition beginning now (reusing the row of one this batch dropped, as it has the same key)."""
        row = self.conditions.get(key)
        if row is None:
            row = IncidentConditionRow(key=key, exercise_id=self.exercise)
            self.session.add(row)
            self.conditions[key] = row
        self.dropped.discard(key)
        row.type, row.place, row.since, row.severity = incident_type, alert.place, as_utc(alert.ts), severity
        row.times, row.lat, row.lon = [], alert.lat, alert.lon
        return row

    def drop_condition(self, key: str) -> None:
        """The condition of `key` ended (deleted at finish unless it begins again in this batch)."""
        self.dropped.add(key)

    def touch(self, row: IncidentRow) -> None:
        """Remember an existing row's audited fields before the batch's first change to it."""
        if row.id is not None and row.id not in self.before:
            self.before[row.id] = audited(row)

    def open(
        self, incident_type: str, place: str, severity: Severity, detected: float, *, cleared: bool = False
    ) -> IncidentRow:
        """A new engine-made incident for a place (a sensor or segment id), holding its open key."""
        key = open_key(incident_type, place, self.exercise)
        row = new_row(
            incident_type=incident_type,
            source="engine",
            place=place_of(self.city, place),
            severity=severity,
            detected_at=as_utc(detected),
            opened_by=ACTOR,
            limits=self.limits,
            city=self.city,
            key=key,
            now=self.now,
            exercise=self.exercise,
        )
        row.version = 1
        if cleared:
            row.condition, row.condition_at = "cleared", self.now
        self.session.add(row)
        self.new_rows.append(row)
        self.open_by_key[key] = row
        self.applied.opened += 1
        return row

    def attach(self, row: IncidentRow, alert: Alert, severity: Severity | None, entry: str) -> None:
        """An alert joins an open incident: counted, and its severity raised when worse (limits tightened)."""
        self.touch(row)
        row.alert_count += 1
        at = as_utc(alert.ts)
        if row.last_alert_at is None or at > row.last_alert_at:
            row.last_alert_at = at
        if severity is not None and worse(row.severity, severity) != row.severity:
            row.severity = severity
            row.peak_severity = worse(row.peak_severity, severity)
            row.ack_due_at = min(row.ack_due_at, self.limits.ack_due(row.opened_at, severity))
            row.resolve_due_at = min(row.resolve_due_at, self.limits.resolve_due(row.opened_at, severity))
        self.taken[id(row)] = self.taken.get(id(row), 0) + 1
        self.entries.setdefault(id(row), []).append(entry)
        self.applied.attached += 1

    def record(self, entry: str, alert: Alert, row: IncidentRow | None) -> None:
        """Keep the alert's stream entry (the key that makes a redelivery a no-op), linked to its incident."""
        alert_row = IncidentAlertRow(
            entry=entry,
            kind=alert.kind,
            place=alert.place,
            old=alert.old,
            new=alert.new,
            severity=alert.severity,
            at=as_utc(alert.ts),
            received_at=self.now,
        )
        self.session.add(alert_row)
        self.alert_rows.append((alert_row, row))

    def link(self, row: IncidentRow, place: str, since: datetime) -> None:
        """At finish, attach the alerts that began a condition (kept before the incident existed) to it."""
        self.links.append((row, place, since))

    def _details(self, row: IncidentRow) -> dict[str, Any]:
        entries = self.entries.get(id(row), [])
        return {
            "alerts": self.taken.get(id(row), 0),
            "first": entries[:1],
            "last": entries[-1:],
            **clock_at(self.exercise, self.now),
        }

    def finish(self) -> None:
        """Write it all: one INSERT or versioned UPDATE per incident, then the alerts' links and the audit rows."""
        for key in self.dropped:
            condition = self.conditions.get(key)
            if condition is not None:
                if condition in self.session.new:
                    self.session.expunge(condition)
                else:
                    self.session.delete(condition)
        self.session.flush()
        for alert_row, row in self.alert_rows:
            alert_row.incident_id = None if row is None else row.id
        for row, place, since in self.links:
            self.session.execute(
                sa.update(IncidentAlertRow)
                .where(
                    IncidentAlertRow.place == place,
                    IncidentAlertRow.incident_id.is_(None),
                    IncidentAlertRow.at >= since,
                )
                .values(incident_id=row.id)
            )
        for row in self.new_rows:
            after = {**audited(row), "type": row.type, "place": row.place, **self._details(row)}
            audit.record(
                self.session,
                actor=ACTOR,
                action="incident.open",
                object_type=OBJECT_TYPE,
                object_id=row.id,
                before=None,
                after=after,
                exercise_id=self.exercise,
            )
        for incident_id, before in self.before.items():
            row = self.session.get(IncidentRow, incident_id)
            assert row is not None
            after = audited(row)
            if after == before:
                continue
            action = "incident.alerts" if self.taken.get(id(row)) else "incident.condition"
            audit.record(
                self.session,
                actor=ACTOR,
                action=action,
                object_type=OBJECT_TYPE,
                object_id=incident_id,
                before=before,
                after={**after, **self._details(row)},
                exercise_id=self.exercise,
            )
        self.session.flush()


def lock_places(session: Session, keys: Iterable[str]) -> None:
    """Hold, until the transaction ends, a lock on each type-and-place key (an open key), so engines applying
    alerts of one place take turns: a burst's counter or a pending condition is read, changed and written by one
    at a time (read committed would let two count from the same old value and lose one). PostgreSQL advisory
    transaction locks, taken in one order so two batches never deadlock; on SQLite a write transaction holds the
    database's write lock already (BEGIN IMMEDIATE), so nothing more is needed."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    ids = sorted(
        {int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big", signed=True) for key in keys}
    )
    for lock_id in ids:
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(PLACE_LOCKS, lock_id)))


def _entry_id(text: str) -> tuple[int, int]:
    """A stream entry id as a comparable pair."""
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class IncidentEngine(StreamConsumer[Domain]):
    """Reads the alerts streams as one consumer of the `incidents` group and keeps the incidents in the database."""

    log = logging.getLogger(__name__)
    idle_wait_s = 0.25
    transient_errors = (DatabaseError,)  # a lost database is waited for like a lost Redis

    def __init__(
        self,
        client: Client,
        db: Database,
        keys: Keys,
        city: City,
        *,
        rules: Rules,
        limits: Limits,
        consumer: str,
        batch_size: int = 500,
        claim_idle_ms: int = 60_000,
        deadletter_maxlen: int = 100_000,
        domains: Sequence[Domain] = DOMAINS,
        alert_retention_days: float = 90.0,
        auto_resolve_cleared_s: float = 0.0,
        exercise_id: int | None = None,
    ) -> None:
        super().__init__(
            client,
            group=INCIDENTS_GROUP,
            consumer=consumer,
            streams={domain: keys.alerts(domain) for domain in domains},
            batch_size=batch_size,
            claim_idle_ms=claim_idle_ms,
        )
        self.db = db
        self.keys = keys
        self.city = city
        self.rules = rules
        self.limits = limits
        self.deadletter_maxlen = deadletter_maxlen
        self.domains = tuple(domains)
        self.totals = _Applied()
        self._gap_logged: dict[Domain, str] = {}
        self.alert_retention_s = alert_retention_days * 86_400
        self.auto_resolve_cleared_s = auto_resolve_cleared_s
        self._pruned_at = 0.0
        self.exercise_id = exercise_id  # the training exercise whose namespace this engine follows; None: live

    def clock_now(self) -> datetime:
        """Now as this engine counts incident times: the wall clock for live (people act in real time), the
        exercise's declared clock in an exercise's namespace (real time if none is declared)."""
        if self.exercise_id is None:
            return utcnow()
        return as_utc(read_timebase(self.client, self.keys).now())

    def _mine(self, table: type[IncidentRow] | type[IncidentConditionRow]) -> sa.ColumnElement[bool]:
        """The rows of this engine's namespace: the live city's, or its exercise's."""
        if self.exercise_id is None:
            return table.exercise_id.is_(None)
        return table.exercise_id == self.exercise_id

    # -- the stream-consumer base's hooks (ioc/streams) -----------------------------------------------------

    def group_refused(self, label: Domain, error: redis.ResponseError) -> None:
        """The group cannot be made on one alerts stream (say, the key holds another type): said, the others go on."""
        log.error("cannot set up the incidents group on %s: %s", self.keys.alerts(label), error)

    def handle(self, label: Domain, entries: list[Entry]) -> int:
        """Apply a batch of one domain's alerts (pending, new or claimed)."""
        self.process(label, [(entry_id, as_dict(fields)) for entry_id, fields in entries])
        return len(entries)

    def periodic(self) -> None:
        """Conditions that lasted and time limits (check), alerts trimmed before they were read (logged once), and
        applied alerts past their retention (once an hour, live only)."""
        self.check()
        # An exercise's applied alerts carry its simulated times and go with its reset: only live ones are pruned.
        if self.exercise_id is None and time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            self.prune_alerts()
        for domain, first in self.missed().items():
            if self._gap_logged.get(domain) != first:
                log.error(
                    "alerts of %s were trimmed before the incident engine read them (the oldest left is %s): "
                    "raise IOC_ALERTS_MAXLEN or keep the engine running",
                    domain,
                    first,
                )
                self._gap_logged[domain] = first

    def heartbeat(self, handled: int) -> None:
        """Say this engine is alive, for `ioc incidents-engine` watchers and the tests."""
        beat = {"at": time.time(), "handled": handled, "opened": self.totals.opened}
        self.client.hset(self.keys.incidents_heartbeat(), self.consumer, orjson.dumps(beat).decode())

    def _read(self, domain: Domain, start: str) -> list[tuple[str, dict[str, str] | None]]:
        """One read of a domain's alerts as `process` takes them."""
        return [(entry_id, as_dict(fields)) for entry_id, fields in self.read_entries(domain, start)]

    def missed(self) -> dict[Domain, str]:
        """Alerts trimmed from a stream before this group read them (the engine was away longer than
        IOC_ALERTS_MAXLEN alerts): per domain, the first id still there when it is past the last one delivered.
        They cannot be applied any more; saying so is all that is left (logged as an error by the loop)."""
        gaps: dict[Domain, str] = {}
        for domain in self.domains:
            key = self.keys.alerts(domain)
            groups = {g["name"]: g for g in self.client.xinfo_groups(key)}
            group = groups.get(INCIDENTS_GROUP)
            first = self.client.xrange(key, count=1)
            if group is None or not first:
                continue
            delivered = _entry_id(str(group["last-delivered-id"]))
            if delivered != (0, 0) and _entry_id(first[0][0]) > (delivered[0], delivered[1] + 1):
                gaps[domain] = first[0][0]
        return gaps

    def prune_alerts(self, now: float | None = None) -> int:
        """Delete this namespace's applied-alert rows that belong to no incident (level changes below the opening
        threshold, clears) once older than the retention, in batches, and only those whose stream entry can never be
        delivered again (older than every entry left in the alerts streams), so exactly-once holds. An incident's
        alerts stay with it. Returns how many rows went."""
        now = time.time() if now is None else now
        cutoff = now - self.alert_retention_s
        for domain in self.domains:
            first = self.client.xrange(self.keys.alerts(domain), count=1)
            if first:
                cutoff = min(cutoff, _entry_id(first[0][0])[0] / 1000)
        before = datetime.fromtimestamp(cutoff, UTC)
        mine = IncidentAlertRow.entry.startswith(f"{self.keys.namespace}/", autoescape=True)
        removed = 0
        while True:
            with self.db.transaction() as session:
                ids = session.scalars(
                    sa.select(IncidentAlertRow.id)
                    .where(mine, IncidentAlertRow.incident_id.is_(None), IncidentAlertRow.received_at < before)
                    .limit(PRUNE_BATCH)
                ).all()
                if ids:
                    session.execute(sa.delete(IncidentAlertRow).where(IncidentAlertRow.id.in_(ids)))
            removed += len(ids)
            if len(ids) < PRUNE_BATCH:
                break
        if removed:
            ALERT_ROWS_PRUNED.inc(removed)
            log.info("removed %d applied alerts received before %s (retention)", removed, before.isoformat())
        return removed

    def _ack(self, domain: Domain, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self.client.xack(self.keys.alerts(domain), INCIDENTS_GROUP, *ids)

    def _deadletter(self, domain: Domain, entry_id: str, fields: dict[str, str] | None, reason: str) -> None:
        """Keep an alerts entry the engine cannot apply, with why, in the domain's dead-letter stream."""
        log.error("alert %s %s set aside: %s", self.keys.alerts(domain), entry_id, reason)
        copy, note = deadletter_copy([text for pair in (fields or {}).items() for text in pair])
        letter = {
            "reason": f"incident engine: {reason}"[:MAX_REASON_CHARS],
            "stream": self.keys.alerts(domain),
            "entry_id": entry_id,
            "at": f"{time.time():.3f}",
            "fields": orjson.dumps(copy).decode(),
        }
        if note:
            letter["note"] = note
        self.client.xadd(self.keys.deadletter(domain), letter, maxlen=self.deadletter_maxlen, approximate=True)

    # -- applying alerts ------------------------------------------------------------------------------------

    def entry_key(self, domain: Domain, entry_id: str) -> str:
        """The unique key of an alerts stream entry in the database."""
        return f"{self.keys.namespace}/{domain}/{entry_id}"

    def process(self, domain: Domain, entries: list[tuple[str, dict[str, str] | None]]) -> _Applied:
        """Apply a batch of one domain's alerts in one transaction, then acknowledge them."""
        good: list[tuple[str, Alert]] = []
        for entry_id, fields in entries:
            alert = decode_stream_alert(fields) if fields else None
            problem = "entry deleted before it was read" if fields is None else alert_problem(alert, self.city)
            if problem:
                self._deadletter(domain, entry_id, fields, problem)
                self.totals.rejected += 1
                continue
            assert alert is not None
            good.append((entry_id, alert))
        applied = self._commit(domain, good) if good else _Applied()
        self._ack(domain, (entry_id for entry_id, _ in entries))
        self._add(applied)
        INCIDENT_ALERTS_APPLIED.labels(domain).inc(len(good))
        if applied.opened:
            INCIDENTS_OPENED.labels(domain).inc(applied.opened)
        return applied

    def _add(self, applied: _Applied) -> None:
        self.totals.opened += applied.opened
        self.totals.attached += applied.attached
        self.totals.skipped += applied.skipped

    def _commit(self, domain: Domain, alerts: list[tuple[str, Alert]]) -> _Applied:
        """Apply alerts in one transaction, again from the start if a concurrent change made it fail."""
        for attempt in range(1, MAX_RETRIES + 1):
            try:
                with self.db.transaction() as session, session.no_autoflush:
                    batch = _Batch(session, self.rules, self.limits, self.city, self.clock_now(), self.exercise_id)
                    keys = {self.entry_key(domain, entry_id): (entry_id, alert) for entry_id, alert in alerts}
                    seen = set(
                        session.scalars(sa.select(IncidentAlertRow.entry).where(IncidentAlertRow.entry.in_(keys)))
                    )
                    batch.applied.skipped = len(seen)
                    lock_places(session, self._keys_of(alert for key, (_, alert) in keys.items() if key not in seen))
                    for key, (_, alert) in keys.items():
                        if key not in seen:
                            self._apply(batch, key, alert)
                    batch.finish()
                    return batch.applied
            except (sa_exc.IntegrityError, StaleDataError) as exc:
                log.info(
                    "alerts batch of %s met a concurrent change (attempt %d): %s", domain, attempt, type(exc).__name__
                )
        raise DatabaseError(f"alerts batch of {domain} kept meeting concurrent changes; retrying later")

    def _keys_of(self, alerts: Iterable[Alert]) -> set[str]:
        """The type-and-place keys these alerts may read or change (what a batch locks first)."""
        decisions = ((decide(alert, self.rules), alert.place) for alert in alerts)
        return {
            open_key(decision.incident_type, place, self.exercise_id)
            for decision, place in decisions
            if decision is not None
        }

    def _apply(self, batch: _Batch, entry: str, alert: Alert) -> None:
        """One alert: open, attach, start or clear a condition, as its decision says; record the entry."""
        decision = decide(alert, self.rules)
        incident = None if decision is None else self._decide(batch, entry, alert, decision)
        batch.record(entry, alert, incident)

    def _decide(self, batch: _Batch, entry: str, alert: Alert, decision: Decision) -> IncidentRow | None:
        """Carry out one alert's decision; the incident it opened or joined, if any."""
        key = open_key(decision.incident_type, alert.place, self.exercise_id)
        incident = batch.open_incident(key)
        if decision.verb == "clear":
            return self._clear(batch, key, incident, alert, entry)
        if incident is not None:
            if decision.verb in ("raise", "start") and incident.condition != "active":
                batch.touch(incident)
                incident.condition, incident.condition_at = "active", batch.now
            batch.attach(incident, alert, None if decision.verb == "note" else decision.severity, entry)
            return incident
        if decision.verb == "raise":
            incident = batch.open(decision.incident_type, alert.place, decision.severity, alert.ts)
            batch.attach(incident, alert, decision.severity, entry)
            return incident
        if decision.verb == "start":
            if batch.condition(key) is None:
                batch.start_condition(key, decision.incident_type, alert, decision.severity)
            return None
        if decision.verb == "count":
            return self._count(batch, key, alert, decision, entry)
        return None  # a note with no incident open

    def _count(self, batch: _Batch, key: str, alert: Alert, decision: Decision, entry: str) -> IncidentRow | None:
        """One more event of a burst at its place: an incident once the window holds enough of them."""
        size = burst_size(decision.incident_type, self.rules)
        assert size is not None, decision.incident_type  # KIND_RULES gives 'count' to bursts only
        needed, window_s = size
        condition = batch.condition(key) or batch.start_condition(key, decision.incident_type, alert, decision.severity)
        window_start = alert.ts - window_s
        times = sorted(t for t in [*condition.times, alert.ts] if t > window_start)
        if len(times) < needed:
            condition.times = times
            condition.since = as_utc(times[0])
            return None
        batch.drop_condition(key)
        incident = batch.open(decision.incident_type, alert.place, decision.severity, times[0])
        batch.attach(incident, alert, decision.severity, entry)
        incident.alert_count += len(times) - 1  # the burst's earlier events, linked at finish
        batch.link(incident, alert.place, as_utc(times[0]))
        return incident

    def _clear(
        self, batch: _Batch, key: str, incident: IncidentRow | None, alert: Alert, entry: str
    ) -> IncidentRow | None:
        """The condition ended: an open incident says so; a pending one that lasted long enough still opens."""
        if incident is not None:
            if incident.condition != "cleared":
                batch.touch(incident)
                incident.condition, incident.condition_at = "cleared", batch.now
            batch.attach(incident, alert, None, entry)
            return incident
        condition = batch.condition(key)
        if condition is None:
            return None
        batch.drop_condition(key)
        since = condition.since.timestamp()
        needed_s = lasting_s(condition.type, self.rules)
        if needed_s is not None and alert.ts - since >= needed_s:
            # It lasted long enough while nobody checked (the engine was down): record it, already cleared.
            severity: Severity = condition.severity  # type: ignore[assignment]
            opened = batch.open(condition.type, alert.place, severity, since, cleared=True)
            opened.alert_count += 1  # the alert that began it, linked at finish
            batch.link(opened, alert.place, condition.since)
            batch.attach(opened, alert, None, entry)
            return opened
        return None

    # -- periodic checks ------------------------------------------------------------------------------------

    def check(self, *, now: datetime | None = None, city_now: float | None = None) -> tuple[int, int]:
        """Open incidents for conditions that lasted long enough (city clock), escalate incidents past their time
        limits (wall clock) and resolve the cleared ones nobody acknowledged, if set. Safe with two engines at once:
        each change is conditional on the row as read. Returns (opened, escalated)."""
        now = now or self.clock_now()
        if city_now is None:
            city_now = read_timebase(self.client, self.keys).now()
        opened, escalated = self._open_sustained(city_now, now), self._escalate(now)
        self.resolve_cleared(now)
        return opened, escalated

    def _open_sustained(self, city_now: float, now: datetime) -> int:
        with self.db.read() as session:
            conditions = list(session.scalars(sa.select(IncidentConditionRow).where(self._mine(IncidentConditionRow))))
        due = [
            (condition.key, condition.since)
            for condition in conditions
            if (needed_s := lasting_s(condition.type, self.rules)) is not None
            and city_now - condition.since.timestamp() >= needed_s
        ]
        stale_bursts = [condition.key for condition in conditions if self._burst_is_over(condition, city_now)]
        opened = 0
        for key, since in due:
            try:
                with self.db.transaction() as session, session.no_autoflush:
                    lock_places(session, [key])
                    batch = _Batch(session, self.rules, self.limits, self.city, now, self.exercise_id)
                    condition = batch.condition(key)
                    if condition is None or condition.since != since:
                        continue  # another engine opened it, or it cleared meanwhile
                    batch.drop_condition(key)
                    if batch.open_incident(key) is None:
                        severity: Severity = "critical" if condition.severity == "critical" else "warning"
                        row = batch.open(condition.type, condition.place, severity, since.timestamp())
                        row.alert_count = 1  # the alert that began it
                        row.last_alert_at = since
                        batch.link(row, condition.place, since)
                        opened += 1
                    batch.finish()
            except (sa_exc.IntegrityError, StaleDataError):
                continue  # another engine was first
        if stale_bursts:
            with self.db.transaction() as session:
                lock_places(session, stale_bursts)  # a violation counted meanwhile keeps its burst
                for condition in session.scalars(
                    sa.select(IncidentConditionRow).where(IncidentConditionRow.key.in_(stale_bursts))
                ):
                    if self._burst_is_over(condition, city_now):
                        session.delete(condition)
        return opened

    def _burst_is_over(self, condition: IncidentConditionRow, city_now: float) -> bool:
        """Whether a pending condition is a burst whose window holds no event any more (it is forgotten)."""
        size = burst_size(condition.type, self.rules)
        if size is None:
            return False
        _needed, window_s = size
        return not condition.times or city_now - max(condition.times) > window_s

    def _escalate(self, now: datetime) -> int:
        open_values = [s.value for s in OPEN_STATUSES]
        late_ack = sa.and_(
            IncidentRow.status == Status.NEW.value, ~IncidentRow.ack_overdue, IncidentRow.ack_due_at < now
        )
        late_resolve = sa.and_(
            IncidentRow.status.in_(open_values), ~IncidentRow.resolve_overdue, IncidentRow.resolve_due_at < now
        )
        with self.db.read() as session:
            candidates = session.execute(
                sa.select(IncidentRow.id, IncidentRow.version)
                .where(self._mine(IncidentRow), sa.or_(late_ack, late_resolve))
                .limit(1000)
            ).all()
        escalated = 0
        for incident_id, version in candidates:
            try:
                with self.db.transaction() as session:
                    row = session.get(IncidentRow, incident_id)
                    if row is None or row.version != version:
                        continue  # changed meanwhile: looked at again at the next check
                    before = audited(row)
                    missed = []
                    if row.status == Status.NEW.value and not row.ack_overdue and row.ack_due_at < now:
                        row.ack_overdue = True
                        missed.append("acknowledge")
                    if row.status in open_values and not row.resolve_overdue and row.resolve_due_at < now:
                        row.resolve_overdue = True
                        missed.append("resolve")
                    if not missed:
                        continue
                    if row.condition != "cleared":  # back to normal: the limit was missed, but nothing is worse
                        row.severity = raised(row.severity)
                        row.peak_severity = worse(row.peak_severity, row.severity)
                    row.updated_at = now
                    session.flush()
                    audit.record(
                        session,
                        actor=ACTOR,
                        action="incident.escalate",
                        object_type=OBJECT_TYPE,
                        object_id=row.id,
                        before=before,
                        after={**audited(row), "missed": missed, **clock_at(self.exercise_id, now)},
                        exercise_id=self.exercise_id,
                    )
                    escalated += 1
            except StaleDataError:
                continue  # another engine (or a person) was first
        if escalated:
            log.warning("%d incident(s) passed a time limit: marked overdue, severity raised", escalated)
        return escalated

    def resolve_cleared(self, now: datetime) -> int:
        """Resolve, as the system and audited, the incidents whose condition cleared at least
        IOC_INCIDENT_AUTO_RESOLVE_CLEARED_S ago, that nobody acknowledged and that never went past warning; a manager
        still closes them (or reopens one). Off when the setting is 0. Returns how many were resolved."""
        if self.auto_resolve_cleared_s <= 0:
            return 0
        cutoff = now - timedelta(seconds=self.auto_resolve_cleared_s)
        with self.db.read() as session:
            candidates = session.execute(
                sa.select(IncidentRow.id, IncidentRow.version)
                .where(
                    self._mine(IncidentRow),
                    IncidentRow.status == Status.NEW.value,
                    IncidentRow.condition == "cleared",
                    IncidentRow.peak_severity.in_(AUTO_RESOLVED_SEVERITIES),
                    IncidentRow.condition_at < cutoff,
                )
                .limit(1000)
            ).all()
        resolved = 0
        for incident_id, version in candidates:
            try:
                with self.db.transaction() as session:
                    row = session.get(IncidentRow, incident_id)
                    if row is None or row.version != version or row.condition != "cleared":
                        continue  # changed meanwhile (acknowledged, or the condition came back)
                    before = audited(row)
                    row.status = Status.RESOLVED.value
                    row.resolved_at = row.updated_at = now
                    row.open_key = None  # a new alert for this place opens a new incident
                    session.flush()
                    audit.record(
                        session,
                        actor=ACTOR,
                        action="incident.resolve",
                        object_type=OBJECT_TYPE,
                        object_id=row.id,
                        before=before,
                        after={**audited(row), "text": AUTO_RESOLVE_TEXT, **clock_at(self.exercise_id, now)},
                        exercise_id=self.exercise_id,
                    )
                    resolved += 1
            except StaleDataError:
                continue
        if resolved:
            log.info("%d cleared incident(s) nobody acknowledged resolved by the system", resolved)
        return resolved

    def drain(self) -> int:
        """Apply everything there is now, pending entries first (for tests and the benchmark); entries handled."""
        total = self.recover()
        while handled := self.run_once():
            total += handled
        return total


def run_engine(settings: Settings, stop: threading.Event) -> None:
    """Entry point of `ioc incidents-engine`: connect to Redis and the database, run until stop is set, in the
    namespace and in every active exercise's (an engine each, followed as they start and stop, ioc/namespaces.py)."""
    from ioc import namespaces
    from ioc.city import cached_city
    from ioc.db import open_database
    from ioc.store import connect

    client = connect(settings)
    db = open_database(settings, check=False)
    city = cached_city(settings.city_dir)
    base = settings.namespace

    def make(namespace: str) -> IncidentEngine:
        return IncidentEngine(
            client,
            db,
            Keys(namespace),
            city,
            rules=Rules.of(settings),
            limits=Limits.of(settings),
            consumer=settings.incident_consumer,
            batch_size=settings.batch_size,
            claim_idle_ms=settings.claim_idle_ms,
            deadletter_maxlen=settings.deadletter_maxlen,
            alert_retention_days=settings.incident_alert_retention_days,
            auto_resolve_cleared_s=settings.incident_auto_resolve_cleared_s,
            exercise_id=namespaces.exercise_of(base, namespace),
        )

    consumers = ConsumerSet(
        make,
        lambda: namespaces.followed(client, base),
        announce=lambda held: namespaces.announce(client, base, f"incidents:{settings.incident_consumer}", held),
    )
    log.info(
        "incident engine %s on namespace %r and its active exercises, database %s",
        settings.incident_consumer,
        base,
        db.describe(),
    )
    try:
        consumers.run_forever(stop)
    finally:
        client.close()
        db.close()
