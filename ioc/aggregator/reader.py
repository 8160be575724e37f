"""The aggregator's reads of new entries: every domain's XREADGROUP and the namespace's clock in one write, on a
connection of its own, so the next round's reads are on their way while a round is computed."""

from __future__ import annotations

from typing import Any, Final

import hiredis
import redis

from ioc.clock import REAL_TIME, Timebase, decode_timebase
from ioc.cluster import Client, is_cluster, node_client
from ioc.events import RawEntry
from ioc.keys import AGGREGATOR_GROUP, Domain, Keys
from ioc.streams.replies import drop, entries_of, pairs

# Replies saying a slot is (being) served by another node, or the cluster cannot serve it now.
CLUSTER_MOVES: Final = (redis.exceptions.AskError, redis.exceptions.TryAgainError, redis.exceptions.ClusterDownError)


class BatchReader:
    """Reads the new entries of every domain on connections of its own, so the next read can be sent ahead of a
    round's commits: one XREADGROUP per stream (each in one cluster slot), all of a node's sent in one write.
    Replies are parsed by the client's own reply parser, as client.xreadgroup would.

    On a single server everything goes on one connection, the namespace's clock read after the entries, so it is at
    least as new as any entry's declaration. On a cluster each node gets the reads of the domains it serves, on a
    connection from its pool, and the clock (on a node of its own slot) is read once the entries arrived: one more
    round trip per round, for the same guarantee."""

    def __init__(self, client: Client, keys: Keys, domains: tuple[Domain, ...], consumer: str, count: int) -> None:
        self._client = client
        self._keys = keys
        self._domains = domains
        self._consumer = consumer
        self._count = count
        self._plan: list[tuple[redis.ConnectionPool, tuple[Domain, ...], bytes, bool]] | None = None
        self._connections: list[tuple[redis.ConnectionPool, Any]] = []
        self.sent = False
        self.timebase: Timebase = REAL_TIME  # as read with the last reads taken
        self.failed: dict[Domain, str] = {}  # domains whose read failed in the last take, with Redis's error

    def _read(self, domain: Domain) -> bytes:
        packed: bytes = hiredis.pack_command(
            (
                "XREADGROUP",
                "GROUP",
                AGGREGATOR_GROUP,
                self._consumer,
                "COUNT",
                self._count,  # type: ignore[arg-type]
                "STREAMS",
                self._keys.events(domain),
                ">",
            )
        )
        return packed

    def _make_plan(self) -> list[tuple[redis.ConnectionPool, tuple[Domain, ...], bytes, bool]]:
        """Per node (its pool): the domains it serves, their reads packed in one write, and whether the clock's read
        follows them there (on a single server)."""
        by_pool: dict[int, tuple[redis.ConnectionPool, list[Domain]]] = {}
        for domain in self._domains:
            pool = node_client(self._client, self._keys.events(domain)).connection_pool
            by_pool.setdefault(id(pool), (pool, []))[1].append(domain)
        clock_here = not is_cluster(self._client)
        plan = []
        for pool, domains in by_pool.values():
            packed = b"".join(self._read(domain) for domain in domains)
            if clock_here:
                packed += hiredis.pack_command(("HGETALL", self._keys.clock()))  # type: ignore[arg-type]
            plan.append((pool, tuple(domains), packed, clock_here))
        return plan

    def request(self) -> None:
        """Send the reads, if not sent already."""
        if self.sent:
            return
        if self._plan is None:
            self._plan = self._make_plan()
        if not self._connections:
            self._connections = [(pool, pool.get_connection()) for pool, *_ in self._plan]
        for (_, _, packed, _), (_, connection) in zip(self._plan, self._connections, strict=True):
            connection.send_packed_command([packed])
        self.sent = True

    def take(self) -> dict[Domain, list[RawEntry]]:
        """The entries of the reads sent (sending them now if not sent yet), by domain; empty domains left out.

        A read Redis refuses (say, a stream key holding another type) is noted in `failed`; the others go on."""
        self.request()
        assert self._plan is not None
        self.failed = {}
        found: dict[Domain, list[RawEntry]] = {}
        declared: Any = None
        for (_, domains, _, clock_here), (_, connection) in zip(self._plan, self._connections, strict=True):
            for domain in domains:
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
        return {domain: found[domain] for domain in self._domains if domain in found}  # in the domains' order

    def abandon(self) -> None:
        """Drop reads in flight and the connections (their entries stay pending and are recovered); which node
        serves which domain is looked up again."""
        self.sent = False
        for pool, connection in self._connections:
            drop(pool, connection)
        self._connections = []
        self._plan = None

    def close(self) -> None:
        """Give the connections back (entries of a read still in flight stay pending)."""
        self.abandon()
