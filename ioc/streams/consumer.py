"""The one stream-consumer base: a consumer of a Redis consumer group over a set of streams, as every consumer of
the system runs it (the aggregator on the raw streams, the incident engine on the alerts streams, any later one).

What the base owns: the group, created on each stream from its first entry (MKSTREAM; an existing group is fine);
this consumer's own pending entries (read but never acknowledged before a crash or a failure) handled before new
ones; entries another consumer left pending longer than claim_idle_ms (it died) claimed every claim_idle_ms / 2
(XPENDING with IDLE names their holder, then XCLAIM: never this consumer's own, which are recovered, and said so);
a heartbeat each pass of the loop and a periodic check every few seconds; Redis errors waited out with back-off
(0.5 s, doubling to 5 s) and then a fresh start (group, pending entries, claims); a stop request ends the loop
after the current pass, with the work in flight finished and the connections given back.

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

    def read_count(self, label: L) -> int:
        """How many entries one read of a stream asks for (the batch size by default)."""
        return self.batch_size

    def read_entries(self, label: L, start: str, count: int | None = None) -> list[Entry]:
        """One XREADGROUP of one stream: new entries (start ">") or this consumer's pending ones (start "0")."""
        reply = self.raw(label).xreadgroup(
            self.group, self.consumer, {self.streams[label]: start}, count=count or self.read_count(label)
        )
        return entries_of(reply)

    def recover(self) -> int:
        """Handle this consumer's own pending entries (read but never acknowledged, e.g. before a crash), every
        stream until none is left; returns how many entries were handled, those of a read ahead that had to be
        settled first included (they are new entries, not left-overs, and are not counted as recovered)."""
        self.recover_due = False
        self.prepare()
        settled = recovered = 0
        for label in self.streams:
            while True:
                settled += self.settle()
                entries = self.read_entries(label, "0")
                if not entries:
                    break
                recovered += self.handle(label, entries)
        self.flush()
        if recovered:
            self.log.info("recovered %d pending entries", recovered)
        return settled + recovered

    def stalled(self, label: L, after: str) -> tuple[list[str], int, str | None]:
        """One page of the group's entries pending at least claim_idle_ms on a stream, from `after` ("-" first, or
        "(<id>" after an id): the ids held by other consumers, how many this consumer holds itself, and where the
        next page starts (None: this was the last)."""
        rows = self.client.xpending_range(
            self.streams[label], self.group, min=after, max="+", count=self.batch_size, idle=self.claim_idle_ms
        )
        holder = [(str(row["message_id"]), str(row["consumer"])) for row in rows]
        others = [entry_id for entry_id, consumer in holder if consumer != self.consumer]
        following = f"({holder[-1][0]}" if len(holder) >= self.batch_size else None
        return others, len(holder) - len(others), following

    def claim(self, label: L, ids: list[str]) -> list[Entry]:
        """XCLAIM these entries of other consumers (still idle at least claim_idle_ms: a consumer that took one
        meanwhile keeps it) and return them, one deleted from the stream with no fields."""
        key = self.streams[label]
        reply = self.raw(label).xclaim(
            key, self.group, self.consumer, min_idle_time=self.claim_idle_ms, message_ids=ids
        )
        entries: list[Entry] = [(entry[0], entry[1]) for entry in reply if entry is not None]
        # A deleted entry is claimed as nil (Redis 6.2, which keeps it pending on this consumer) or left out and
        # dropped from the pending list (Redis 7): either way it is not returned with its id. An id not returned
        # that the stream no longer holds is such an entry, handed over with no fields (it becomes a dead letter);
        # one the stream still holds was taken by another consumer meanwhile, or acknowledged: left alone.
        missing = set(ids).difference(entry_id for entry_id, _ in entries)
        if missing:
            pipe = self.client.pipeline(transaction=False)
            for entry_id in sorted(missing):
                pipe.xrange(key, entry_id, entry_id)
            held = pipe.execute()
            gone = [entry_id for entry_id, found in zip(sorted(missing), held, strict=True) if not found]
            entries += [(entry_id, None) for entry_id in gone]
            entries.sort(key=lambda entry: tuple(int(part) for part in entry[0].split("-")))
        return entries

    def claim_stuck(self) -> int:
        """Take over the entries other consumers left pending at least claim_idle_ms (they stopped), every stream,
        and handle them; returns how many entries were handled, those of a read ahead that had to be settled first
        included (new entries, not counted as claimed).

        Only other consumers' entries are claimed (XPENDING with IDLE names the holder, then XCLAIM), never this
        consumer's own: its reads ahead are settled before each look, so an own entry still pending that long is a
        left-over of its own (a batch lost on the way), handled by recovery and logged as such."""
        self.prepare()
        settled = claimed = stale = 0
        for label in self.streams:
            after: str | None = "-"
            while after is not None:
                settled += self.settle()  # entries read ahead are this consumer's, new, and handled first
                others, own, after = self.stalled(label, after)
                stale += own
                entries = self.claim(label, others) if others else []
                if entries:
                    claimed += self.handle(label, entries)
        self.flush()
        self._last_claim = time.monotonic()
        if claimed:
            self.log.warning(
                "claimed and processed %d entries other consumers of group %s left pending over %d ms",
                claimed,
                self.group,
                self.claim_idle_ms,
            )
        if stale:
            self.log.warning(
                "%d entries of this consumer (%s) were pending over %d ms, read but never acknowledged: recovering",
                stale,
                self.consumer,
                self.claim_idle_ms,
            )
            return settled + claimed + self.recover()
        return settled + claimed

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
