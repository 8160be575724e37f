"""The aggregator's reads of new entries: every domain's XREADGROUP and the namespace's clock in one write, on a
connection of its own, so the next round's reads are on their way while a round is computed; a batch bounded by
bytes as well as by count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import hiredis
import redis

from ioc.clock import REAL_TIME, Timebase, decode_timebase
from ioc.cluster import Client, is_cluster, node_client
from ioc.events import RawEntry
from ioc.keys import AGGREGATOR_GROUP, Domain, Keys
from ioc.streams.replies import Entry, drop, entries_of, pairs

# Replies saying a slot is (being) served by another node, or the cluster cannot serve it now.
CLUSTER_MOVES: Final = (redis.exceptions.AskError, redis.exceptions.TryAgainError, redis.exceptions.ClusterDownError)


def weight(entries: Sequence[Entry]) -> int:
    """What a batch weighs: the characters of its entries' fields (names and values; about their bytes)."""
    return sum(len("".join(fields)) for _, fields in entries if fields)


def split_by_bytes(entries: list[Entry], max_bytes: int) -> tuple[list[Entry], list[Entry]]:
    """The longest first part of a batch within max_bytes (at least one entry, however big), and the rest."""
    total = 0
    for index, (_, fields) in enumerate(entries):
        total += len("".join(fields)) if fields else 0
        if total > max_bytes:
            cut = max(index, 1)
            return entries[:cut], entries[cut:]
    return entries, []


class BatchReader:
    """Reads the new entries of every domain on connections of its own, so the next read can be sent ahead of a
    round's commits: one XREADGROUP per stream (each in one cluster slot), all of a node's sent in one write.
    Replies are parsed by the client's own reply parser, as client.xreadgroup would.

    On a single server everything goes on one connection, the namespace's clock read after the entries, so it is at
    least as new as any entry's declaration. On a cluster each node gets the reads of the domains it serves, on a
    connection from its pool, and the clock (on a node of its own slot) is read once the entries arrived: one more
    round trip per round, for the same guarantee."""

    def __init__(
        self,
        client: Client,
        keys: Keys,
        domains: tuple[Domain, ...],
        consumer: str,
        count: int,
        max_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self._client = client
        self._keys = keys
        self._domains = domains
        self._consumer = consumer
        self._count = count
        self._max_bytes = max_bytes
        # Per domain, the entries a read asks for: the batch size, fewer while a domain's entries are big (so a read
        # brings about max_bytes), back up as soon as they are small again.
        self.counts: dict[Domain, int] = dict.fromkeys(domains, count)
        # Per domain, entries read beyond a batch's max_bytes, handed out first by the next take (pending on this
        # consumer meanwhile: lost with the process, they are recovered); such a domain is not read meanwhile.
        self._carry: dict[Domain, list[RawEntry]] = {}
        self._plan: list[tuple[redis.ConnectionPool, tuple[Domain, ...], bool]] | None = None
        self._connections: list[tuple[redis.ConnectionPool, Any]] = []
        self._reading: list[tuple[Domain, ...]] = []  # per connection, the domains whose reads were sent
        self.sent = False
        self.timebase: Timebase = REAL_TIME  # as read with the last reads taken
        self.failed: dict[Domain, str] = {}  # domains whose read failed in the last take, with Redis's error

    @property
    def carried(self) -> bool:
        """Whether entries read beyond a batch's bytes wait for the next take."""
        return bool(self._carry)

    def _read(self, domain: Domain) -> bytes:
        packed: bytes = hiredis.pack_command(
            (
                "XREADGROUP",
                "GROUP",
                AGGREGATOR_GROUP,
                self._consumer,
                "COUNT",
                self.counts[domain],  # type: ignore[arg-type]
                "STREAMS",
                self._keys.events(domain),
                ">",
            )
        )
        return packed

    def _make_plan(self) -> list[tuple[redis.ConnectionPool, tuple[Domain, ...], bool]]:
        """Per node (its pool): the domains it serves, and whether the clock's read follows their reads there (on a
        single server)."""
        by_pool: dict[int, tuple[redis.ConnectionPool, list[Domain]]] = {}
        for domain in self._domains:
            pool = node_client(self._client, self._keys.events(domain)).connection_pool
            by_pool.setdefault(id(pool), (pool, []))[1].append(domain)
        clock_here = not is_cluster(self._client)
        return [(pool, tuple(domains), clock_here) for pool, domains in by_pool.values()]

    def request(self) -> None:
        """Send the reads (of every domain with no entries carried over), if not sent already."""
        if self.sent:
            return
        if self._plan is None:
            self._plan = self._make_plan()
        if not self._connections:
            self._connections = [(pool, pool.get_connection()) for pool, *_ in self._plan]
        self._reading = []
        for (_, domains, clock_here), (_, connection) in zip(self._plan, self._connections, strict=True):
            reading = tuple(domain for domain in domains if domain not in self._carry)
            packed = b"".join(self._read(domain) for domain in reading)
            if clock_here:
                packed += hiredis.pack_command(("HGETALL", self._keys.clock()))  # type: ignore[arg-type]
            if packed:
                connection.send_packed_command([packed])
            self._reading.append(reading)
        self.sent = True

    def take(self, *, read: bool = True) -> dict[Domain, list[RawEntry]]:
        """The entries of the reads sent (sending them now if not sent yet, unless `read` is false) and those
        carried over, by domain, each batch within max_bytes (the rest carried to the next take); empty domains
        left out.

        A read Redis refuses (say, a stream key holding another type) is noted in `failed`; the others go on."""
        if read:
            self.request()
        self.failed = {}
        found: dict[Domain, list[RawEntry]] = {}
        if self.sent:
            found = self._receive()
        batches: dict[Domain, list[RawEntry]] = {}
        for domain in self._domains:  # in the domains' order
            carried = self._carry.pop(domain, None)
            entries = carried or found.get(domain)
            if not entries:
                continue
            total = weight(entries)
            batch, rest = (entries, []) if total <= self._max_bytes else split_by_bytes(entries, self._max_bytes)
            if rest:
                self._carry[domain] = rest
            if carried is None:
                self._adapt(domain, len(entries), total)
            batches[domain] = batch
        return batches

    def _adapt(self, domain: Domain, count: int, total: int) -> None:
        """Size the domain's next read so that it brings about max_bytes at the size of the entries just read."""
        if total <= self._max_bytes and self.counts[domain] == self._count:
            return  # within the bound at full count: nothing to change (the usual case)
        average = max(total / count, 1.0)
        self.counts[domain] = max(1, min(self._count, int(self._max_bytes / average)))

    def _receive(self) -> dict[Domain, list[RawEntry]]:
        """The replies of the reads sent, by domain; the clock's read sets timebase."""
        assert self._plan is not None
        found: dict[Domain, list[RawEntry]] = {}
        declared: Any = None
        for (_, _, clock_here), (_, connection), reading in zip(
            self._plan, self._connections, self._reading, strict=True
        ):
            for domain in reading:
                try:
                    entries = entries_of(connection.read_response())
                except CLUSTER_MOVES:
                    raise  # the slot is served elsewhere now: the consumer starts again on the cluster's new map
                except redis.ResponseError as exc:
                    self.failed[domain] = str(exc)
                    continue
                if entries:
                    found[domain] = entries
            if clock_here:
                try:
                    declared = connection.read_response()
                except redis.ResponseError:
                    declared = None  # a clock key of the wrong type declares nothing
        self.sent = False
        if is_cluster(self._client):
            try:
                declared = self._client.hgetall(self._keys.clock())
            except redis.ResponseError:
                declared = None
        self.timebase = decode_timebase(pairs(declared))
        return found

    def abandon(self) -> None:
        """Drop reads in flight, entries carried over and the connections (those entries stay pending and are
        recovered); which node serves which domain is looked up again."""
        self.sent = False
        self._carry.clear()
        for pool, connection in self._connections:
            drop(pool, connection)
        self._connections = []
        self._plan = None

    def close(self) -> None:
        """Give the connections back (entries of a read still in flight stay pending)."""
        self.abandon()
