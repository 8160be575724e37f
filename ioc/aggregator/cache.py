"""The aggregator's memory of the state it committed: one domain's derived state as this consumer last committed
it, trusted while the domain's version in Redis is the one of that commit."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, Final

from ioc.keys import StateHash

CACHED_MINUTES: Final = 240  # speed roll-up minutes a consumer keeps in memory (a batch of a backlog spans many)
EXPIRY_MARGIN_S: Final = 60.0  # a held minute this close to its key's expiry is read again rather than trusted


class StateCache:
    """The derived state of one domain as this consumer last committed it, and the domain version of that commit.

    Valid while the domain's version in Redis is still that one: every write of these hashes goes through the
    commit script, which bumps it. Any failure clears it, so the next batch reads afresh.
    """

    def __init__(self) -> None:
        self.version: str | None = None
        self.clock: float | None = None  # the domain clock as this consumer's commits leave it
        self.hashes: dict[StateHash, dict[str, Any]] = {}  # state hash name -> id -> decoded value, each hash whole
        self.minutes: dict[int, dict[str, list[int]]] = {}  # epoch minute -> segment -> [speed_sum, weight]
        # Roll-up minutes after this one that the cache does not hold are empty in Redis: the domain clock was at
        # or before it when the state was read, every roll-up is written at or before the clock of its commit,
        # and since then only this consumer has written (the version is its own) and it keeps what it writes.
        self.fresh_above: int | None = None
        # Wall time each held minute's key expires in Redis: a copy kept past it would bring back expired totals.
        self.expires: dict[int, float] = {}

    def lacks(self, names: Sequence[StateHash], minutes: Sequence[int]) -> bool:
        """Whether a batch needing these hashes and roll-up minutes has to read any of them from Redis."""
        return self.version is None or any(n not in self.hashes for n in names) or not all(map(self.holds, minutes))

    def holds(self, minute: int) -> bool:
        """Whether the cache knows this minute's roll-up (held and not about to expire, or provably empty)."""
        if minute in self.minutes:
            return self.expires.get(minute, math.inf) > time.time() + EXPIRY_MARGIN_S
        return self.fresh_above is not None and minute > self.fresh_above

    def clear(self) -> None:
        """Forget everything (the next batch reads all it needs)."""
        self.version = None
        self.clock = None
        self.fresh_above = None
        self.hashes.clear()
        self.minutes.clear()
        self.expires.clear()

    def trim_minutes(self) -> None:
        """Keep memory bounded: drop the oldest roll-up minutes beyond CACHED_MINUTES (re-read if ever needed)."""
        if len(self.minutes) > CACHED_MINUTES:
            dropped = sorted(self.minutes)[: len(self.minutes) - CACHED_MINUTES]
            for minute in dropped:
                del self.minutes[minute]
                self.expires.pop(minute, None)
            if self.fresh_above is not None:
                self.fresh_above = max(self.fresh_above, dropped[-1])
