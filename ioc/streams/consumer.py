"""The one stream-consumer base: a consumer of a Redis consumer group over a set of streams, as every consumer of
the system runs it (the aggregator on the raw streams, the incident engine on the alerts streams, any later one).

What the base owns: the group, created on each stream from its first entry (MKSTREAM; an existing group is fine);
this consumer's own pending entries (read but never acknowledged before a crash or a failure) handled before new
ones; entries another consumer left pending longer than claim_idle_ms (it died) claimed with XAUTOCLAIM every
claim_idle_ms / 2; a heartbeat each pass of the loop and a periodic check every few seconds; Redis errors waited out
with back-off (0.5 s, doubling to 5 s) and then a fresh start (group, pending entries, claims); a stop request ends
the loop after the current pass, with the work in flight finished and the connections given back.

What a consumer owns: how it handles a batch and makes its effect exactly-once (the aggregator commits its derived
state and the XACK in one script; the incident engine commits SQL, then acknowledges), how it reads new entries
(the aggregator sends its reads ahead), its heartbeat and its periodic check. Entries reach it as Redis sent them
(`ioc.streams.replies`): an id and a flat field list, None for an entry deleted from the stream.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping
from typing import ClassVar, Final, Generic, TypeVar

import redis

from ioc.cluster import Client, is_cluster, node_client, refresh_topology
from ioc.streams.replies import Entry, entries_of, raw_client

L = TypeVar("L", bound=Hashable)  # what a consumer calls each of its streams (e.g. a domain)

BACKOFF_FIRST_S: Final = 0.5
BACKOFF_MAX_S: Final = 5.0
UNREACHABLE: Final = (redis.ConnectionError, redis.TimeoutError)
# A cluster that cannot serve a slot now (failing over, a slot not covered): waited out like an outage.
CLUSTER_TROUBLE: Final = (redis.exceptions.ClusterError, redis.exceptions.RedisClusterException)


class StreamConsumer(ABC, Generic[L]):
    """One consumer (a stable name) of one consumer group over several streams, each named by a label."""

    log: ClassVar[logging.Logger] = logging.getLogger(__name__)  # a consumer logs as itself
    idle_wait_s: ClassVar[float] = 0.2  # wait after a pass that found nothing
    transient_errors: ClassVar[tuple[type[Exception], ...]] = ()  # besides Redis's: waited out like an outage

    def __init__(
        self,
        client: Client,
        *,
        group: str,
        consumer: str,
        streams: Mapping[L, str],
        batch_size: int,
        claim_idle_ms: int,
    ) -> None:
        self.client = client
        self.group = group
        self.consumer = consumer
        self.streams: dict[L, str] = dict(streams)  # label -> stream key
        self.batch_size = batch_size
        self.claim_idle_ms = claim_idle_ms
        # Reads go through clients of their own on the same pools: their replies keep every entry's fields as sent.
        # On a cluster each stream is read on the node of its slot (a cluster refuses an XREADGROUP over keys of
        # several slots, and so one read per stream): a plain client on that node's pool, found again after a
        # failure; on a single server, one client for every stream.
        self._raw: dict[L, redis.Redis] = {}
        self.recover_due = True  # this consumer's pending entries are to be handled before new ones
        self._last_claim = 0.0

    # -- what a consumer does ----------------------------------------------------------------------------------

    @abstractmethod
    def handle(self, label: L, entries: list[Entry]) -> int:
        """Process a batch of one stream's entries, in id order, and acknowledge them as the consumer's commit
        does; returns how many were handled. Entries not acknowledged stay pending and come back."""

    @abstractmethod
    def heartbeat(self, handled: int) -> None:
        """Tell watchers this consumer is alive (each pass of the loop; `handled` entries in that pass)."""

    def run_once(self) -> int:
        """One batch of new entries from each stream; returns how many were handled."""
        handled = 0
        for label in self.streams:
            entries = self.read_entries(label, ">")
            if entries:
                handled += self.handle(label, entries)
        return handled

    def periodic(self) -> None:
        """A check the loop runs every few seconds (none by default)."""

    def prepare(self) -> None:
        """Called before pending or claimed entries are handled (nothing by default)."""

    def settle(self) -> int:
        """Finish the work in flight (entries read ahead, commits unconfirmed) before this consumer's pending list is
        read, so none of it is taken for a left-over; returns the entries it handled (none by default)."""
        return 0

    def flush(self) -> None:
        """Wait until everything handled so far is in Redis (nothing to wait for by default)."""

    def abandon(self) -> None:
        """After a failure: forget the work in flight (its entries stay pending and come back)."""

    def close(self) -> None:
        """Give this consumer's own connections back (called when the loop ends)."""

    def group_refused(self, label: L, error: redis.ResponseError) -> None:
        """Redis refused to create the group on a stream (other than it existing already): raised by default."""
        raise error

    # -- the group, pending entries and stalled ones -----------------------------------------------------------

    def raw(self, label: L) -> redis.Redis:
        """The client reading a stream's entries as sent: on the node of the stream's slot on a cluster."""
        client = self._raw.get(label)
        if client is None:
            client = self._raw[label] = raw_client(node_client(self.client, self.streams[label]))
        return client

    def setup(self) -> None:
        """Create the consumer group on every stream (from its first entry), if it does not exist yet. On a cluster,
        ask first which node serves each stream now (a node may have failed over or slots moved since)."""
        if is_cluster(self.client):
            refresh_topology(self.client)
            self._raw.clear()
        for label in self.streams:
            self.create_group(label)

    def create_group(self, label: L) -> None:
        """Create the group on one stream (and the stream, if missing); an existing group is left as it is."""
        try:
            self.client.xgroup_create(self.streams[label], self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                self.group_refused(label, exc)

    def read_entries(self, label: L, start: str, count: int | None = None) -> list[Entry]:
        """One XREADGROUP of one stream: new entries (start ">") or this consumer's pending ones (start "0")."""
        reply = self.raw(label).xreadgroup(
            self.group, self.consumer, {self.streams[label]: start}, count=count or self.batch_size
        )
        return entries_of(reply)

    def recover(self) -> int:
        """Handle this consumer's own pending entries (read but never acknowledged, e.g. before a crash), every
        stream until none is left; returns how many."""
        self.recover_due = False
        self.prepare()
        total = 0
        for label in self.streams:
            while True:
                total += self.settle()
                entries = self.read_entries(label, "0")
                if not entries:
                    break
                total += self.handle(label, entries)
        self.flush()
        if total:
            self.log.info("recovered %d pending entries", total)
        return total

    def claim(self, label: L, cursor: str) -> tuple[str, list[Entry]]:
        """One XAUTOCLAIM of entries left pending longer than claim_idle_ms by other consumers: the next cursor
        ("0-0" once the stream is done) and the entries, a deleted one with no fields."""
        reply = self.raw(label).xautoclaim(
            self.streams[label],
            self.group,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id=cursor,
            count=self.batch_size,
        )
        # Redis 6.2 replies [cursor, entries], a deleted entry as nil; 7 adds a third item, the ids of deleted
        # entries, which it drops from the pending list: they are handed over too (with no fields).
        cursor, claimed = reply[0], reply[1]
        gone = reply[2] if len(reply) > 2 else []
        entries: list[Entry] = [(entry[0], entry[1]) for entry in claimed if entry is not None]
        if len(entries) < len(claimed):
            # Redis 6.2 claims a deleted entry without naming it; reading our own pending entries does.
            self.recover_due = True
        entries += [(entry_id, None) for entry_id in gone]
        return cursor, entries

    def claim_stuck(self) -> int:
        """Take over the entries other consumers left pending longer than claim_idle_ms (they died), every stream,
        and handle them; returns how many."""
        self.prepare()
        total = 0
        for label in self.streams:
            cursor = "0-0"
            while True:
                total += self.settle()
                cursor, entries = self.claim(label, cursor)
                if entries:
                    total += self.handle(label, entries)
                if cursor == "0-0":
                    break
        self.flush()
        self._last_claim = time.monotonic()
        if total:
            self.log.warning(
                "claimed and processed %d entries left by stopped consumers of group %s", total, self.group
            )
        return total

    def claim_due(self, now: float) -> bool:
        """Whether stalled entries are to be looked for again (every claim_idle_ms / 2, monotonic time)."""
        return now - self._last_claim >= self.claim_idle_ms / 2000

    # -- the loop ----------------------------------------------------------------------------------------------

    def run_forever(
        self, stop: threading.Event, idle_wait_s: float | None = None, periodic_every_s: float = 2.0
    ) -> None:
        """Run until `stop` is set; a lost or refusing Redis (or a transient error of the consumer's) is waited for
        and retried, never fatal; anything else ends the loop with the work in flight abandoned. (The loop is the
        one that runs a consumer per namespace, `ioc.streams.namespaces.ConsumerSet`, here over this one only.)"""
        from ioc.streams.namespaces import ConsumerSet

        ConsumerSet.of(self).run_forever(stop, idle_wait_s, periodic_every_s)

    def report_pause(self, exc: Exception, backoff: float) -> None:
        if isinstance(exc, UNREACHABLE):
            self.log.warning("Redis unreachable (%s); retrying in %.1f s", exc, backoff)
        elif isinstance(exc, redis.exceptions.AskError):  # MOVED too: a slot served by another node now
            self.log.info("a stream's slot moved (%s); finding its node again in %.1f s", exc, backoff)
        elif isinstance(exc, CLUSTER_TROUBLE):
            self.log.warning("the cluster cannot serve a slot now (%s); retrying in %.1f s", exc, backoff)
        elif isinstance(exc, redis.ResponseError):
            # Say, a stream key replaced by another type or a group deleted by hand: set up again, go on.
            self.log.error("Redis refused a command (%s); setting up again in %.1f s", exc, backoff)
        else:
            self.log.warning("%s paused (%s: %s); retrying in %.1f s", self.consumer, type(exc).__name__, exc, backoff)
