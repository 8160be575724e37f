"""The aggregator's engine: the one process that consumes the raw streams, exactly once, and commits what the
domain reducers (ioc/reducers/) make of them. The engine knows nothing of traffic or floods; a reducer knows
nothing of Redis.

Exactly-once effect: each batch of one domain is read with XREADGROUP, and its derived writes, dead letters,
alerts and the XACK of its entries go to Redis in one script, which applies them only if the domain's state
version is still the one the batch was computed on (optimistic concurrency, as WATCH would give) and its entries
are still pending on this consumer (not claimed by another meanwhile). Killed anywhere, a batch is either wholly
applied and acknowledged or not at all; at start the consumer re-reads its own pending entries and claims entries
left idle by dead consumers, so nothing is lost and nothing counted twice.

Any entry is handled: whatever bytes, shape or event time a producer sends, an entry becomes a valid reading or a
dead letter with its reason and its fields (ioc/events.py checks the shape, ioc/clock.py the time); a stream key of
the wrong type is moved aside. No input stops the loop.

Speed: the consumer keeps the state it committed in memory (valid while the version is its own), validates a
batch in one call into pydantic-core, and pipelines: the next round's reads are sent as soon as a round's
entries arrive, and a round's commits (one per domain) are sent without waiting, so Redis applies round N while
this process reads and computes round N+1 on the state N leaves. Round N's commits are confirmed before round
N+1's are sent; a batch refused because another writer got there first is computed again, one whose entries
another consumer took over is dropped.

All rules run on event time; the city clock is the newest event time accepted, so a sped-up simulation and a
replay give the same state as real time would.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import Any, Final, Literal

import orjson
import redis

from ioc.aggregator.cache import StateCache
from ioc.aggregator.checkpoints import read_checkpoint, trim_checkpoints, write_checkpoint
from ioc.aggregator.commit import LOAD_LUA, MAX_UNPACK, Commit, Committer
from ioc.aggregator.reader import BatchReader, split_by_bytes, weight
from ioc.city import City
from ioc.clock import REAL_TIME, Timebase, TimeCheck, read_timebase, receive_time
from ioc.cluster import Client
from ioc.documents import decode_state, encode_doc
from ioc.errors import InvalidEvent
from ioc.events import (
    EVENT_DOMAINS,
    Flat,
    Reading,
    deadletter_copy,
    decode_events,
    entries_fields,
    entry_problem,
    shorten,
)
from ioc.keys import AGGREGATOR_GROUP, INCIDENTS_GROUP, Domain, Keys, StateHash
from ioc.metrics import AGGREGATOR_ROUND_SECONDS, STREAM_ENTRIES_TRIMMED
from ioc.reducers import REDUCERS, Batch, Checked, Reducer
from ioc.rollup import decode_minute, encode_totals
from ioc.rules import FloodHysteresis
from ioc.streams import ConsumerSet, Entry, StreamConsumer
from ioc.streams.retention import trim_before

log = logging.getLogger(__name__)

ROLLUP_RETENTION_S: Final = 26 * 3600  # a day of per-minute speeds, plus slack for late events
REPLAY_MIN_TTL_S: Final = 2 * 3600  # a replay of a past date keeps its roll-ups at least this long (wall time)
MAX_REASON_CHARS: Final = 1_000
TRIM_EVERY_S: Final = 60.0  # how often the raw, alerts and dead-letter streams are trimmed to their retention
StreamKind = Literal["events", "alerts", "deadletter"]  # the streams of a domain that age out (metrics' `stream`)


def rollup_ttl_s(minute: int, now: float) -> int:
    """Seconds a minute roll-up lives: a day after its event time, but never under two hours from now, so a
    training replay of a past date still shows its chart while bounded memory is kept."""
    return max(int(minute * 60 + ROLLUP_RETENTION_S - now), REPLAY_MIN_TTL_S)


def _dumps(value: Any) -> str:
    """Compact JSON, as json.dumps(separators=(",", ":"), ensure_ascii=False) writes it, about 10x faster."""
    return orjson.dumps(value).decode()


class Aggregator(StreamConsumer[Domain]):
    """Consumes every domain's raw stream as one consumer of the aggregator group."""

    log = logging.getLogger(__name__)

    def __init__(
        self,
        client: Client,
        keys: Keys,
        city: City,
        *,
        consumer: str,
        batch_size: int = 500,
        claim_idle_ms: int = 60_000,
        alerts_maxlen: int = 10_000,
        deadletter_maxlen: int = 100_000,
        hysteresis: FloodHysteresis | None = None,
        time_check: TimeCheck | None = None,
        retention_s: float = 86_400.0,
        alerts_retention_s: float = 30 * 86_400.0,
        deadletter_retention_s: float = 30 * 86_400.0,
        batch_bytes: int = 4 * 1024 * 1024,
        checkpoint_every_s: float = 0.0,
    ) -> None:
        super().__init__(
            client,
            group=AGGREGATOR_GROUP,
            consumer=consumer,
            streams={domain: keys.events(domain) for domain in REDUCERS},
            batch_size=batch_size,
            claim_idle_ms=claim_idle_ms,
        )
        self.keys = keys
        self.city = city
        self.alerts_maxlen = alerts_maxlen
        self.deadletter_maxlen = deadletter_maxlen
        self.hysteresis = hysteresis or FloodHysteresis()
        self.reducers: dict[Domain, Reducer] = {d: cls(city, keys, self.hysteresis) for d, cls in REDUCERS.items()}
        self.time_check = time_check or TimeCheck()
        self.timebase: Timebase = REAL_TIME  # the namespace's clock, read with every round of reads
        self._caches: dict[Domain, StateCache] = {domain: StateCache() for domain in self.reducers}
        self._committer = Committer(client, consumer)
        self.batch_bytes = batch_bytes
        self._reader = BatchReader(client, keys, tuple(self.reducers), consumer, batch_size, batch_bytes)
        # per domain, (type, sensor, segment) -> why such an event does not fit here, "" if it does
        self._placements: dict[Domain, dict[tuple[str, str, str | None], str]] = {d: {} for d in self.reducers}
        self._read_error_logged: dict[Domain, float] = {}
        self.retention_s = retention_s
        self.alerts_retention_s = alerts_retention_s
        self.deadletter_retention_s = deadletter_retention_s
        self._trimmed_at = 0.0
        self.checkpoint_every_s = checkpoint_every_s  # 0: no checkpoints (a replay's own aggregator, most tests)
        self._checkpointed_at = -math.inf

    # -- the stream-consumer base's hooks (ioc/streams) ---------------------------------------------------------

    def group_refused(self, label: Domain, error: redis.ResponseError) -> None:
        """A raw stream key that is not a stream is moved aside and the group created again, so one wrong write to
        a stream key cannot stop its domain; any other refusal is raised."""
        if "WRONGTYPE" not in str(error):
            raise error
        key = self.keys.events(label)
        kind = self.client.type(key)
        aside = self.keys.quarantined(key, int(time.time() * 1000))
        self.client.rename(key, aside)
        log.error("%s held a %s, not a stream: moved aside to %s so %s events flow again", key, kind, aside, label)
        self.client.xgroup_create(key, AGGREGATOR_GROUP, id="0", mkstream=True)

    def prepare(self) -> None:
        """Pending and claimed entries are judged by the namespace's clock as it is now."""
        self._use_timebase(read_timebase(self.client, self.keys))

    def handle(self, label: Domain, entries: list[Entry]) -> int:
        """Process entries read apart (pending or claimed) as one commit per batch of at most batch_bytes."""
        if weight(entries) <= self.batch_bytes:
            return self._process(label, entries)
        handled = 0
        while entries:
            batch, entries = split_by_bytes(entries, self.batch_bytes)
            handled += self._process(label, batch)
        return handled

    def read_count(self, label: Domain) -> int:
        """Entries to read apart from one stream: fewer while its entries are big (as the reads of new ones)."""
        return self._reader.counts[label]

    def settle(self) -> int:
        """Process the entries of a read sent ahead, if any (how many): they are pending on this consumer, and
        recovery or claiming must not take them for left-overs and process them twice."""
        handled = 0
        while self._reader.sent or self._reader.carried:
            handled += self.run_once(read_ahead=False)
        self._settle()
        return handled

    def periodic(self) -> None:
        """The device watchdog, every few seconds; the raw, alerts and dead-letter streams aged out every minute."""
        self.check_devices()
        if self.checkpoint_every_s > 0 and time.monotonic() - self._checkpointed_at >= self.checkpoint_every_s:
            self._checkpointed_at = time.monotonic()
            self.take_checkpoints()
        if time.monotonic() - self._trimmed_at >= TRIM_EVERY_S:
            self._trimmed_at = time.monotonic()
            self.age_out()

    def age_out(self, now: float | None = None) -> dict[StreamKind, dict[Domain, int]]:
        """Trim every domain's raw stream to IOC_STREAM_RETENTION_H, its alerts stream to IOC_ALERTS_RETENTION_DAYS
        and its dead letters to IOC_DEADLETTER_RETENTION_DAYS, by entry time, in bounded batches
        (ioc.streams.retention), never past an entry some consumer group has not delivered or acknowledged: an
        alert stays until the incident engine has read and acknowledged it (none goes before its group exists).
        Returns how many entries went, per kind and domain."""
        now = time.time() if now is None else now
        return {
            "events": self.trim_history(now),
            "alerts": self._trim("alerts", now - self.alerts_retention_s),
            "deadletter": self._trim("deadletter", now - self.deadletter_retention_s),
        }

    def trim_history(self, now: float | None = None) -> dict[Domain, int]:
        """Trim each raw stream to IOC_STREAM_RETENTION_H of history (by entry time), never past an entry some
        consumer group has not delivered or acknowledged yet, and the checkpoints older than that history (the newest
        kept). Returns how many raw entries went, per domain."""
        now = time.time() if now is None else now
        removed = self._trim("events", now - self.retention_s)
        for domain in self.reducers:
            try:
                trim_checkpoints(self.client, self.keys, domain, int((now - self.retention_s) * 1000))
            except redis.ResponseError as exc:  # not a stream: a replay reading it says so
                log.debug("not trimming the checkpoints of %s: %s", domain, exc)
        return removed

    def take_checkpoints(self) -> int:
        """Copy each domain's derived state, as committed, with its stream position into its checkpoints stream
        (ioc/aggregator/checkpoints.py): the starting points of a replay. A domain with a batch in flight or nothing
        new since its last checkpoint is left for the next time. Returns how many were written."""
        self.flush()
        written = 0
        for domain, reducer in self.reducers.items():
            keeps_rollups = type(reducer).rollup_minutes is not Reducer.rollup_minutes
            rollup = reducer.rollup_key if keeps_rollups else None
            try:
                found = read_checkpoint(self.client, self.keys, domain, reducer.state, self.timebase, rollup)
                if isinstance(found, str):
                    log.debug("no checkpoint of %s now: %s", domain, found)
                    continue
                written += write_checkpoint(self.client, self.keys, found)
            except redis.ResponseError as exc:  # a key of the wrong type: moved aside by the next batch
                log.warning("no checkpoint of %s: %s", domain, exc)
        return written

    def _trim(self, kind: StreamKind, cutoff: float) -> dict[Domain, int]:
        """Trim one kind of stream of every domain before `cutoff` (epoch seconds); counted in the metrics."""
        removed: dict[Domain, int] = {}
        for domain in self.reducers:
            key = {"events": self.keys.events, "alerts": self.keys.alerts, "deadletter": self.keys.deadletter}[kind](
                domain
            )
            reader = INCIDENTS_GROUP if kind == "alerts" else None
            try:
                removed[domain] = trim_before(self.client, key, int(cutoff * 1000), reader=reader)
            except redis.ResponseError as exc:  # no such key yet, or not a stream (moved aside at the next read)
                log.debug("not trimming %s: %s", key, exc)
                continue
            if removed[domain]:
                STREAM_ENTRIES_TRIMMED.labels(domain, kind).inc(removed[domain])
        if any(removed.values()):
            log.info("aged out %s entries: %s", kind, {d: n for d, n in removed.items() if n})
        return removed

    # -- the loop -----------------------------------------------------------------------------------------------

    def run_once(self, *, read_ahead: bool = True) -> int:
        """Process the new entries of every domain (a batch each); returns how many entries were handled.

        With read_ahead the next round's read is sent at once, so Redis serves it while this round is checked,
        and this round's commits may still be on their way when it returns: flush() waits for them.
        """
        started = time.perf_counter()
        try:
            handled = self._round(read_ahead)
        except BaseException:
            self.abandon()  # whatever was in flight is unknown: its entries stay pending, the state is read afresh
            raise
        if handled:
            AGGREGATOR_ROUND_SECONDS.observe(time.perf_counter() - started)
        return handled

    def _round(self, read_ahead: bool) -> int:
        batches = self._reader.take(read=read_ahead)
        self._use_timebase(self._reader.timebase)
        for domain, error in self._reader.failed.items():
            self._repair(domain, error)
        if not batches:
            return 0
        if read_ahead:
            self._reader.request()
        checked = {domain: self._check_all(domain, entries) for domain, entries in batches.items()}
        minutes = {domain: self.reducers[domain].rollup_minutes(readings) for domain, (readings, _) in checked.items()}
        if any(self._caches[domain].lacks(self.reducers[domain].state, m) for domain, m in minutes.items()):
            self._settle()  # state is about to be read: the previous round's commits must be in it
        clocks = self._load(minutes)
        # Computed on the state the previous round's commits leave, while Redis may still be applying them.
        commits = {
            domain: self._compute(domain, batches[domain], *checked[domain], clocks[domain]) for domain in batches
        }
        for domain in self._settle() & commits.keys():  # refused: this round's batch was computed on stale state
            commits[domain] = self._load_and_compute(domain, batches[domain], *checked[domain])
        for commit in commits.values():
            self._committer.send(commit, self._caches[commit.domain].version)
        return sum(len(entries) for entries in batches.values())

    def _use_timebase(self, timebase: Timebase) -> None:
        """Judge event times by the namespace's clock as last read; say so when it changes."""
        if timebase != self.timebase:
            if timebase.simulated:
                log.warning(
                    "namespace %s runs on a simulated clock: x%g, declared by %s; event times are checked "
                    "against it (`ioc clock --real` returns to real time)",
                    self.keys.namespace,
                    timebase.speed,
                    timebase.source or "a simulator",
                )
            else:
                log.info("namespace %s runs on real time", self.keys.namespace)
        self.timebase = timebase

    def _repair(self, domain: Domain, error: str) -> None:
        """After Redis refused to read a domain's stream: recreate its group or move a wrong-typed key aside (the
        other domains flow on meanwhile); anything else is logged and tried again at the next round."""
        if "NOGROUP" in error or "WRONGTYPE" in error:
            log.warning("reading %s failed (%s); setting its stream up again", self.keys.events(domain), error)
            self.create_group(domain)
            return
        now = time.monotonic()
        if now - self._read_error_logged.get(domain, -math.inf) > 60:
            log.error("reading %s failed: %s (retrying every round)", self.keys.events(domain), error)
            self._read_error_logged[domain] = now

    def flush(self) -> None:
        """Wait until the commits in flight are confirmed, so Redis holds everything processed so far."""
        self._settle()

    def drain(self) -> int:
        """Process everything available now (pending, stuck, new) until the streams are empty; for tests and bench.

        Returns the entries handled (a batch another consumer took over meanwhile counts here too)."""
        total = self.recover() + self.claim_stuck()
        while True:
            handled = self.run_once()
            if not handled:
                self.flush()
                if not self.recover_due:
                    break
                handled = self.recover()
            total += handled
        self.check_devices()
        return total

    def close(self) -> None:
        """Give this consumer's own connections back to the client's pool (call when done with it)."""
        self._settle()
        self._committer.close()
        self._reader.close()

    def heartbeat(self, handled: int) -> None:
        """Tell the pages this consumer is alive (and, if it handled events, that data is flowing)."""
        now = time.time()
        mapping: dict[str, str] = {"loop": f"{now:.3f}", "consumer": self.consumer}
        if handled:
            mapping["event"] = f"{now:.3f}"
        self.client.hset(self.keys.heartbeat(), mapping=mapping)

    # -- one batch ------------------------------------------------------------------------------------------------

    def _process(self, domain: Domain, entries: Sequence[Entry]) -> int:
        """Validate one batch, compute its effect on state and send that with the XACK as one commit."""
        self._settle()
        try:
            commit = self._load_and_compute(domain, entries, *self._check_all(domain, entries))
            self._committer.send(commit, self._caches[domain].version)
        except BaseException:
            self.abandon()
            raise
        return len(entries)

    def _settle(self) -> set[Domain]:
        """Confirm the commits in flight. A batch whose domain another writer changed first is computed again and
        committed; one whose entries another consumer took over is dropped (that consumer applies them). Returns
        the domains of such batches: their cached state was read afresh or forgotten."""
        refused: list[Commit] = []
        dropped: set[Domain] = set()
        try:
            while self._committer.in_flight:
                commit = self._committer.oldest
                outcome, version = self._committer.receive()
                cache = self._caches[commit.domain]
                if outcome == 1:
                    cache.version = version
                    cache.trim_minutes()
                    continue
                cache.clear()
                if outcome == -2:
                    self._set_aside(str(version))
                if outcome in (0, -2):
                    refused.append(commit)
                else:
                    log.warning("a batch of %s was taken over by another consumer; dropped here", commit.domain)
                    dropped.add(commit.domain)
                    self.recover_due = True  # what is still ours in that batch is pending: recover it
            for commit in refused:
                log.info("state of %s changed under a batch (another writer); computing it again", commit.domain)
                if not self._redo(commit):
                    dropped.add(commit.domain)
        except BaseException:
            self.abandon()
            raise
        return {commit.domain for commit in refused} | dropped

    def _redo(self, commit: Commit) -> bool:
        """Compute a batch again on fresh state and commit it until it applies (True), or until its entries turn
        out to be another consumer's (False). Nothing else may be in flight."""
        domain, entries = commit.domain, commit.entries
        cache = self._caches[domain]
        while True:
            again = self._load_and_compute(domain, entries, *self._check_all(domain, entries))
            self._committer.send(again, cache.version)
            outcome, version = self._committer.receive()
            if outcome == 1:
                cache.version = version
                return True
            cache.clear()
            if outcome == -2:
                self._set_aside(str(version))
            elif outcome == -1:
                log.warning("a batch of %s was taken over by another consumer; dropped here", commit.domain)
                self.recover_due = True
                return False

    def _set_aside(self, key: str) -> None:
        """Move a derived-state key someone broke out of the way (kept for a person to look at, in its own slot):
        the state it held is built again from the events that follow, instead of every commit failing on it."""
        aside = self.keys.quarantined(key, int(time.time() * 1000))
        try:
            self.client.rename(key, aside)
        except redis.ResponseError:
            return  # gone already (another consumer moved it)
        log.error("%s was damaged (another type, or a counter that is not a number): moved aside to %s", key, aside)

    def abandon(self) -> None:
        """After a failure: forget the commits in flight and all cached state (their entries stay pending)."""
        self._committer.abandon()
        self._reader.abandon()
        for cache in self._caches.values():
            cache.clear()

    def _check_all(self, domain: Domain, entries: Sequence[Entry]) -> tuple[list[Checked], list[dict[str, str]]]:
        """The valid readings of a batch in order, and a dead letter (with its reason) for each other entry.

        Entries come in id order. Whatever their bytes, shape or time, each ends as a reading or a dead letter."""
        ids, flats = (list(column) for column in zip(*entries, strict=True)) if entries else ([], [])
        shaped = entries_fields(flats)
        rejected: list[dict[str, str]] = []
        if InvalidEvent in set(map(type, shaped)):
            kept = [i for i, fields in enumerate(shaped) if not isinstance(fields, InvalidEvent)]
            rejected += (
                self._deadletter(domain, ids[i], flats[i], str(fields))
                for i, fields in enumerate(shaped)
                if isinstance(fields, InvalidEvent)
            )
            ids, flats, shaped = [ids[i] for i in kept], [flats[i] for i in kept], [shaped[i] for i in kept]
        decoded = decode_events(shaped)  # type: ignore[arg-type]  # the invalid ones were taken out
        readings: list[Checked] = []
        placements = self._placements[domain]
        now = time.time()
        timebase, time_check = self.timebase, self.time_check
        earliest, latest = -math.inf, math.inf
        if entries:
            earliest, latest = time_check.window(
                timebase, receive_time(entries[0][0], now), receive_time(entries[-1][0], now)
            )
        append = readings.append
        for entry_id, flat, result in zip(ids, flats, decoded, strict=True):
            if isinstance(result, InvalidEvent):
                reason = entry_problem(flat) or str(result)  # undecodable bytes, if any, are the first thing to fix
            elif earliest <= result.at <= latest and not placements.get(
                (result.type, result.sensor, result.values.get("segment")), "?"
            ):
                append((entry_id, flat, result))  # the usual case: a credible time, a known place
                continue
            else:
                # A wrong clock must not move the city clock, freeze a sensor's state or time devices out.
                reason = time_check.problem(timebase, result.at, receive_time(entry_id, now))
                if not reason:
                    place = (result.type, result.sensor, result.values.get("segment"))
                    reason = placements.get(place)  # type: ignore[assignment]
                    if reason is None:
                        reason = self._misplaced(domain, result)
                        if result.sensor in self.city.sensors:  # bounded by the city, whatever producers send
                            placements[place] = reason
            if reason:
                rejected.append(self._deadletter(domain, entry_id, flat, reason))
            else:
                append((entry_id, flat, result))  # type: ignore[arg-type]  # not an InvalidEvent here
        return readings, rejected

    def _misplaced(self, domain: Domain, reading: Reading) -> str:
        """Why a valid event does not fit this city and stream, or "" if it does."""
        expected = EVENT_DOMAINS[reading.type]
        if expected != domain:
            return f"{reading.type} belongs on the {expected} stream, not {domain}"
        sensor = self.city.sensors.get(reading.sensor)
        if sensor is None:
            return f"unknown sensor {reading.sensor!r}"
        allowed = self.reducers[domain].sources.get(reading.type, ())
        if allowed and sensor.kind not in allowed:
            return f"sensor {sensor.id} is a {sensor.kind}; {reading.type} comes from a {' or '.join(allowed)}"
        segment = reading.values.get("segment")
        if segment is not None and segment not in sensor.segments:
            return f"sensor {sensor.id} does not observe segment {segment!r}"
        return ""

    def _compute(
        self,
        domain: Domain,
        entries: Sequence[Entry],
        readings: list[Checked],
        rejected: list[dict[str, str]],
        clock: float | None,
    ) -> Commit:
        """Apply the readings to the (loaded) cached state and gather the batch's writes into one commit."""
        cache = self._caches[domain]
        batch = Batch(cache.hashes, cache.minutes)
        self.reducers[domain].apply(readings, batch)
        rejected += (self._deadletter(domain, *failed) for failed in batch.rejected)
        commit = Commit(domain, entries, self.keys.stats(domain), self.keys.events(domain))
        self._queue_writes(commit, domain, batch, clock, rejected)
        if batch.clock is not None and (cache.clock is None or batch.clock > cache.clock):
            cache.clock = batch.clock  # as the commit leaves it
        ids = [entry_id for entry_id, _ in entries]
        for start in range(0, len(ids), MAX_UNPACK - 1):
            commit.call("XACK", self.keys.events(domain), AGGREGATOR_GROUP, *ids[start : start + MAX_UNPACK - 1])
        return commit

    def _load_and_compute(
        self, domain: Domain, entries: Sequence[Entry], readings: list[Checked], rejected: list[dict[str, str]]
    ) -> Commit:
        """_compute on the state the batch needs, reading first what the cache lacks (one domain)."""
        clock = self._load({domain: self.reducers[domain].rollup_minutes(readings)})[domain]
        return self._compute(domain, entries, readings, rejected, clock)

    def _load(self, minutes: dict[Domain, list[int]]) -> dict[Domain, float | None]:
        """Bring the caches of these domains up to date for their batches' speed minutes; each domain's clock.

        Reads (one round trip for all domains) only what a cache lacks, unless another writer committed since
        this consumer did: then everything the batch needs is read afresh. Reads nothing when the cache holds every
        hash and every minute it cannot prove empty. No commit of these domains may be in flight.
        """
        plans: list[tuple[Domain, list[int], list[StateHash]]] = []
        pipe = self.client.pipeline(transaction=False)
        for domain, domain_minutes in minutes.items():
            cache = self._caches[domain]
            reducer = self.reducers[domain]
            names = list(reducer.state)
            if not cache.lacks(names, domain_minutes):
                for minute in domain_minutes:
                    cache.minutes.setdefault(minute, {})  # newer than anything in Redis: starts empty
                continue
            keys = [self.keys.state(domain, name) for name in names]
            keys += [reducer.rollup_key(m) for m in domain_minutes]
            held = [name in cache.hashes for name in names] + [cache.holds(m) for m in domain_minutes]
            # As pipe.eval() would; a cluster's pipeline has no eval() but sends EVAL to the node of its keys' slot.
            pipe.execute_command(
                "EVAL",
                LOAD_LUA,
                1 + len(keys),
                self.keys.stats(domain),
                *keys,
                cache.version or "",
                *("1" if h else "0" for h in held),
            )
            plans.append((domain, domain_minutes, names))
        now = time.time()
        replies = pipe.execute() if plans else []
        damaged = [str(reply[1]) for reply in replies if reply[0] == "damaged"]
        if damaged:
            for key in damaged:
                self._set_aside(key)
            return self._load(minutes)  # each pass moves a damaged key away: this ends
        for (domain, domain_minutes, names), reply in zip(plans, replies, strict=True):
            cache = self._caches[domain]
            version, clock, hashes = reply[0] or None, reply[1] or None, reply[2]
            if version != cache.version or cache.version is None:
                cache.clear()  # the script sent every key: nothing held is trusted
                cache.version = version
                cache.clock = float(clock) if clock is not None else None
                # No clock: nothing processed in this domain yet, so no roll-up exists (-1: every minute is fresh).
                cache.fresh_above = int(cache.clock) // 60 if cache.clock is not None else -1
            for index, item in enumerate(hashes):
                if not item:
                    continue  # held, and still current
                flat, ttl_ms = item
                pairs = dict(zip(flat[::2], flat[1::2], strict=True))
                if index < len(names):
                    cache.hashes[names[index]] = decode_state(names[index], pairs)
                else:
                    minute = domain_minutes[index - len(names)]
                    cache.minutes[minute] = decode_minute(pairs)
                    cache.expires[minute] = now + ttl_ms / 1000 if ttl_ms >= 0 else math.inf
        for domain, domain_minutes in minutes.items():
            cache = self._caches[domain]
            for minute in domain_minutes:
                cache.minutes.setdefault(minute, {})  # newer than anything in Redis when it was read: empty
        return {domain: self._caches[domain].clock for domain in minutes}

    def _deadletter(self, domain: Domain, entry_id: str, flat: Flat | None, reason: str) -> dict[str, str]:
        copy, note = deadletter_copy(flat)
        letter = {
            "reason": shorten(reason, MAX_REASON_CHARS),
            "stream": self.keys.events(domain),
            "entry_id": entry_id,
            "fields": _dumps(copy),
            "at": f"{time.time():.3f}",
        }
        if note:
            letter["note"] = note
        return letter

    def _queue_writes(
        self, commit: Commit, domain: Domain, batch: Batch, clock: float | None, deadletters: list[dict[str, str]]
    ) -> None:
        """Add the batch's writes to its commit; hash fields are grouped into one command per key."""
        keys = self.keys
        if batch.latest:
            latest = {sensor: _dumps(reading.document()) for sensor, reading in batch.latest.items()}
            commit.hset(keys.latest(domain), latest)
            lastseen = batch.state["lastseen"]
            stored = {sensor: f"{lastseen[sensor]:.3f}" for sensor in batch.latest}
            commit.hset(keys.lastseen(domain), stored)
            lastseen.update((sensor, float(text)) for sensor, text in stored.items())  # as a fresh read would give
        for name, changed in batch.changed.items():
            if changed:
                items = batch.state[name]
                commit.hset(keys.state(domain, name), {i: encode_doc(items[i]) for i in changed})
        now = time.time()
        expires = self._caches[domain].expires
        for minute, touched in batch.rollup_changed.items():
            totals = batch.minutes[minute]
            key = self.reducers[domain].rollup_key(minute)
            commit.hset(key, {item: encode_totals(*totals[item]) for item in touched})
            ttl = rollup_ttl_s(minute, now)
            commit.call("EXPIRE", key, ttl)
            expires[minute] = now + ttl
        for key, counts in batch.counters.items():
            for counter, count in counts.items():
                commit.call("HINCRBY", key, counter, count)
        self._queue_alerts(commit, domain, batch)
        for dead in deadletters:
            commit.xadd(keys.deadletter(domain), dead, self.deadletter_maxlen)
        if batch.processed:
            commit.call("HINCRBY", keys.stats(domain), "processed", batch.processed)
        if deadletters:
            commit.call("HINCRBY", keys.stats(domain), "deadletter", len(deadletters))
        if batch.clock is not None and (clock is None or batch.clock > clock):
            commit.call("HSET", keys.stats(domain), "clock", f"{batch.clock:.3f}")  # never moved back by late events

    def _queue_alerts(self, commit: Commit, domain: Domain, batch: Batch) -> None:
        keys = self.keys
        for alert in batch.alerts:
            commit.xadd(keys.alerts(domain), alert, self.alerts_maxlen)
        if batch.active_set:
            commit.hset(keys.active(domain), batch.active_set)
        if batch.active_del:
            commit.call("HDEL", keys.active(domain), *batch.active_del)
        if batch.alerts:
            commit.call("HINCRBY", keys.stats(domain), "alerts", len(batch.alerts))

    # -- watchdogs ------------------------------------------------------------------------------------------------

    def check_devices(self) -> int:
        """Run the device watchdog (it marks devices offline that missed several expected reports, and back online
        once data arrives again); returns the number of state changes written.

        Runs on the city clock (newest event time of any domain), so a sped-up simulation behaves as real time.
        """
        self.flush()
        k = self.keys
        seen_by = [domain for domain, reducer in self.reducers.items() if "lastseen" in reducer.state]
        reads = self.client.pipeline(transaction=False)
        for domain in self.reducers:
            reads.hget(k.stats(domain), "clock")
        for domain in seen_by:
            reads.hgetall(k.lastseen(domain))
        replies = reads.execute()
        clocks = [float(c) for c in replies[: len(self.reducers)] if c is not None]
        if not clocks:
            return 0
        clock = max(clocks)
        lastseen: dict[str, float] = {}
        for mapping in replies[len(self.reducers) :]:
            lastseen.update({s: float(t) for s, t in mapping.items()})
        return self._watch("device", clock, lastseen) if "device" in self.reducers else 0

    def _watch(self, domain: Domain, clock: float, lastseen: dict[str, float]) -> int:
        """One reducer's watchdog as a batch of its own, committed like any other; the changes it wrote."""
        cache = self._caches[domain]
        reducer = self.reducers[domain]
        try:
            while True:
                domain_clock = self._load({domain: []})[domain]
                batch = Batch(cache.hashes, cache.minutes)
                reducer.watch(clock, lastseen, batch)
                changes = sum(map(len, batch.changed.values()))
                if not changes:
                    return 0
                commit = Commit(domain, (), self.keys.stats(domain), self.keys.events(domain))
                self._queue_writes(commit, domain, batch, domain_clock, [])
                self._committer.send(commit, cache.version)
                outcome, version = self._committer.receive()
                if outcome == 1:
                    cache.version = version
                    return changes
                cache.clear()  # another writer changed this state meanwhile, or a key was broken: look again
                if outcome == -2:
                    self._set_aside(str(version))
        except BaseException:
            self.abandon()
            raise


def tune_gc() -> None:
    """Collect garbage less often: each batch allocates thousands of short-lived objects, and the default
    thresholds made the collector rescan the city model and batch state many times per batch (measured: about
    +45% events/s with these thresholds, see docs/BENCHMARKS.md)."""
    gc.collect()
    gc.freeze()  # the city model and imports live for the whole process: keep them out of every collection
    gc.set_threshold(100_000, 50, 50)


def run_aggregator(settings: Any, stop: threading.Event) -> None:
    """Entry point of the aggregator process: connect, join the group in the namespace and in every active
    exercise's (followed as they start and stop, ioc/namespaces.py), run until stop is set."""
    from ioc import namespaces
    from ioc.city import cached_city
    from ioc.store import connect

    client = connect(settings)
    city = cached_city(settings.city_dir)
    tune_gc()
    base = settings.namespace

    def make(namespace: str) -> Aggregator:
        return Aggregator(
            client,
            Keys(namespace),
            city,
            consumer=settings.consumer_name,
            batch_size=settings.batch_size,
            claim_idle_ms=settings.claim_idle_ms,
            alerts_maxlen=settings.alerts_maxlen,
            deadletter_maxlen=settings.deadletter_maxlen,
            time_check=TimeCheck(settings.max_ahead_s, settings.max_behind_s),
            retention_s=settings.stream_retention_h * 3600,
            alerts_retention_s=settings.alerts_retention_days * 86_400,
            deadletter_retention_s=settings.deadletter_retention_days * 86_400,
            batch_bytes=settings.aggregator_batch_bytes,
            checkpoint_every_s=settings.replay_checkpoint_min * 60,
        )

    consumers = ConsumerSet(
        make,
        lambda: namespaces.followed(client, base),
        announce=lambda held: namespaces.announce(client, base, f"aggregator:{settings.consumer_name}", held),
    )
    log.info("aggregator %s consuming namespace %r and its active exercises", settings.consumer_name, base)
    consumers.run_forever(stop)
    client.close()
