"""The aggregator's reads of new entries: every domain's XREADGROUP and the namespace's clock in one write, on a
connection of its own, so the next round's reads are on their way while a round is computed."""

from __future__ import annotations

from typing import Any

import hiredis
import redis

from ioc.clock import REAL_TIME, Timebase, decode_timebase
from ioc.events import RawEntry
from ioc.keys import AGGREGATOR_GROUP, Domain, Keys
from ioc.streams.replies import drop, entries_of, pairs


class BatchReader:
    """Reads the new entries of every domain on a connection of its own, so the next read can be sent ahead of a
    round's commits: one XREADGROUP per stream (each in one cluster slot), all sent in one write. Replies are
    parsed by the client's own reply parser, as client.xreadgroup would."""

    def __init__(self, client: redis.Redis, keys: Keys, domains: tuple[Domain, ...], consumer: str, count: int) -> None:
        self._pool = client.connection_pool
        self._connection: Any = None
        self.sent = False
        self._domains = domains
        # The namespace's clock is read after the entries, so it is at least as new as any entry's declaration.
        self._packed = b"".join(
            [
                hiredis.pack_command(
                    (
                        "XREADGROUP",
                        "GROUP",
                        AGGREGATOR_GROUP,
                        consumer,
                        "COUNT",
                        count,  # type: ignore[arg-type]
                        "STREAMS",
                        keys.events(domain),
                        ">",
                    )
                )
                for domain in domains
            ]
            + [hiredis.pack_command(("HGETALL", keys.clock()))]  # type: ignore[arg-type]
        )
        self.timebase: Timebase = REAL_TIME  # as read with the last reads taken
        self.failed: dict[Domain, str] = {}  # domains whose read failed in the last take, with Redis's error

    def request(self) -> None:
        """Send the reads, if not sent already."""
        if self.sent:
            return
        if self._connection is None:
            self._connection = self._pool.get_connection()
        self._connection.send_packed_command([self._packed])
        self.sent = True

    def take(self) -> dict[Domain, list[RawEntry]]:
        """The entries of the reads sent (sending them now if not sent yet), by domain; empty domains left out.

        A read Redis refuses (say, a stream key holding another type) is noted in `failed`; the others go on."""
        self.request()
        self.failed = {}
        batches: dict[Domain, list[RawEntry]] = {}
        for domain in self._domains:
            try:
                entries = entries_of(self._connection.read_response())
            except redis.ResponseError as exc:
                self.failed[domain] = str(exc)
                continue
            if entries:
                batches[domain] = entries
        try:
            self.timebase = decode_timebase(pairs(self._connection.read_response()))
        except redis.ResponseError:
            self.timebase = REAL_TIME  # a clock key of the wrong type declares nothing
        self.sent = False
        return batches

    def abandon(self) -> None:
        """Drop reads in flight and the connection (their entries stay pending and are recovered)."""
        self.sent = False
        drop(self._pool, self._connection)
        self._connection = None

    def close(self) -> None:
        """Give the connection back to the pool (entries of a read still in flight stay pending)."""
        self.abandon()
