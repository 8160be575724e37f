"""One replay: a source namespace's state at a past moment rebuilt into a namespace of its own, and stepped forward.

Rebuilding restores, per domain, the newest checkpoint at or before the moment (ioc/aggregator/checkpoints.py), copies
the raw entries after it up to the moment (XRANGE: read, never consumed; the source's consumer group is not touched)
into the replay's own raw streams under the same ids, and lets an `Aggregator` of the replay namespace consume them:
the same engine, time check and reducers as live, so there is no second copy of the rules. Stepping forward copies and
consumes the next entries. Every key written is the replay namespace's; its raw streams are emptied after each step,
its alerts and dead letters are short, and its keys expire, so a replay's memory stays that of one city picture.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Final

from ioc.aggregator import Aggregator
from ioc.aggregator.checkpoints import Checkpoint, checkpoint_at_or_before, hash_key, oldest_checkpoint
from ioc.city import City
from ioc.clock import REAL_TIME, Timebase, TimeCheck, read_timebase
from ioc.cluster import Client
from ioc.keys import DOMAINS, Domain, Keys
from ioc.streams.retention import entry_pair

log = logging.getLogger(__name__)

COPY_PAGE: Final = 5_000  # raw entries copied per XRANGE and pipeline
REPLAY_ALERTS_MAXLEN: Final = 100  # a replay's alerts and dead letters: the wall reads only the newest few
REPLAY_CONSUMER: Final = "replay"
MAX_ID_SEQ: Final = 18446744073709551615


class NotReplayable(Exception):
    """The moment asked for is outside the history that can be rebuilt exactly."""


def _retained_from_start(client: Client, keys: Keys, domain: Domain) -> bool:
    """Whether a domain's raw stream still holds every entry ever handled (none trimmed yet: a young namespace, an
    exercise), so its state can be rebuilt from nothing: the stream is at least as long as what the aggregator
    counted (every entry ends as a reading or a dead letter)."""
    stats = client.hgetall(keys.stats(domain))
    handled = int(stats.get("processed", 0) or 0) + int(stats.get("deadletter", 0) or 0)
    return handled == 0 or int(client.xlen(keys.events(domain))) >= handled


@dataclass(frozen=True)
class Reach:
    """How far back a namespace's history can be replayed: from `earliest_ms` (epoch ms; None: no history yet) to
    now."""

    earliest_ms: int | None


def history_reach(client: Client, source: Keys) -> Reach:
    """The earliest moment every domain of the source can be rebuilt at: its oldest checkpoint, or, while nothing was
    trimmed from its raw stream, any moment (from the first entry of the namespace's history)."""
    constraints: list[int] = []
    firsts: list[int] = []
    for domain in DOMAINS:
        if _retained_from_start(client, source, domain):
            first = client.xrange(source.events(domain), count=1)
            if first:
                firsts.append(entry_pair(str(first[0][0]))[0] - 1)
            continue
        oldest = oldest_checkpoint(client, source, domain)
        if oldest is None:
            return Reach(None)
        constraints.append(entry_pair(oldest)[0])
    if constraints:
        return Reach(max(constraints))
    return Reach(min(firsts) if firsts else None)


class Replay:
    """A replay namespace's picture of a source namespace at `built_ms`, built and stepped forward (one process owns
    it: the replay runner)."""

    def __init__(
        self,
        client: Client,
        source: Keys,
        target: Keys,
        city: City,
        *,
        time_check: TimeCheck | None = None,
        batch_size: int = 500,
    ) -> None:
        self.client = client
        self.source = source
        self.target = target
        self.city = city
        self.time_check = time_check or TimeCheck()
        self.batch_size = batch_size
        self.aggregator: Aggregator | None = None
        self.built_ms: int | None = None  # every source entry with an id at or before this moment is in the state
        self._next: dict[Domain, str] = {}  # per domain, the first source entry id not copied yet
        self.fed = 0  # raw entries copied and consumed by the last build or step

    # -- building ----------------------------------------------------------------------------------------------

    def rebuild(self, at_ms: int) -> None:
        """The source's state at `at_ms` (epoch ms) from the newest checkpoint at or before it; NotReplayable when
        some domain has no such checkpoint and its history before the moment is not whole."""
        starts: dict[Domain, Checkpoint | None] = {}
        for domain in DOMAINS:
            found = checkpoint_at_or_before(self.client, self.source, domain, at_ms)
            if found is None and not _retained_from_start(self.client, self.source, domain):
                raise NotReplayable(f"no checkpoint of {domain} at or before {at_ms} and its older entries are gone")
            starts[domain] = found
        self.close()
        self.clear()
        timebase: Timebase = REAL_TIME
        newest = -math.inf
        for domain, checkpoint in starts.items():
            if checkpoint is None:
                self._next[domain] = "0-1"
                continue
            self._restore(checkpoint)
            self._next[domain] = checkpoint.start
            if entry_pair(checkpoint.start)[0] > newest:
                newest, timebase = entry_pair(checkpoint.start)[0], checkpoint.timebase
        if newest == -math.inf:
            timebase = read_timebase(self.client, self.source)  # no checkpoint yet: the clock the source runs on now
        if timebase.simulated:
            self.client.hset(self.target.clock(), mapping=timebase.encode())
        self.aggregator = Aggregator(
            self.client,
            self.target,
            self.city,
            consumer=REPLAY_CONSUMER,
            batch_size=self.batch_size,
            alerts_maxlen=REPLAY_ALERTS_MAXLEN,
            deadletter_maxlen=REPLAY_ALERTS_MAXLEN,
            time_check=self.time_check,
        )
        self.aggregator.setup()
        self.built_ms = None
        self._feed(at_ms)

    def newer_start(self, at_ms: int) -> bool:
        """Whether some domain has a checkpoint after what this replay built and at or before `at_ms`: rebuilding
        from there reads fewer entries than stepping forward."""
        if self.built_ms is None:
            return True
        for domain in DOMAINS:
            found = self.client.xrevrange(
                self.source.checkpoints(domain),
                max=f"{at_ms}-{MAX_ID_SEQ}",
                min=f"({self.built_ms}-{MAX_ID_SEQ}",
                count=1,
            )
            if found:
                return True
        return False

    def advance(self, at_ms: int) -> None:
        """Step forward to `at_ms` (not before the moment built): the entries in between are copied and consumed."""
        if self.aggregator is None or self.built_ms is None:
            self.rebuild(at_ms)
            return
        if at_ms < self.built_ms:
            raise ValueError(f"a replay steps forward only: {at_ms} is before {self.built_ms}")
        self._feed(at_ms)

    def go_to(self, at_ms: int) -> bool:
        """The picture at `at_ms`: stepped forward when that is the cheaper way, else rebuilt from a checkpoint (True:
        every key of the namespace was written afresh)."""
        if self.built_ms is not None and at_ms >= self.built_ms and not self.newer_start(at_ms):
            self.advance(at_ms)
            return False
        self.rebuild(at_ms)
        return True

    def _restore(self, checkpoint: Checkpoint) -> None:
        """Write a checkpoint's hashes into the replay namespace."""
        pipe = self.client.pipeline(transaction=False)
        for name, mapping in checkpoint.hashes.items():
            pipe.hset(hash_key(self.target, checkpoint.domain, name), mapping=mapping)
        for minute, mapping in checkpoint.minutes.items():
            pipe.hset(self.target.speed_minute(minute), mapping=mapping)
        pipe.execute()

    def _feed(self, at_ms: int) -> None:
        """Copy every source entry after what was fed, up to `at_ms`, into the replay's raw streams (same ids), let
        the replay's aggregator consume them (its device watchdog runs at the end, on the replayed clock), then empty
        the replay's raw streams."""
        assert self.aggregator is not None
        self.fed = 0
        for domain in DOMAINS:
            start = self._next[domain]
            while True:
                page = self.client.xrange(
                    self.source.events(domain), min=start, max=f"{at_ms}-{MAX_ID_SEQ}", count=COPY_PAGE
                )
                if not page:
                    break
                pipe = self.client.pipeline(transaction=False)
                for entry_id, fields in page:
                    pipe.xadd(self.target.events(domain), dict(fields), id=entry_id)
                pipe.execute()
                self.fed += len(page)
                last = entry_pair(str(page[-1][0]))
                start = self._next[domain] = f"{last[0]}-{last[1] + 1}"
                if len(page) < COPY_PAGE:
                    break
        self.aggregator.drain()
        pipe = self.client.pipeline(transaction=False)
        for domain in DOMAINS:
            pipe.xtrim(self.target.events(domain), maxlen=0)
        pipe.hset(self.target.heartbeat(), mapping={"event": f"{time.time():.3f}", "loop": f"{time.time():.3f}"})
        pipe.execute()
        self.built_ms = at_ms

    # -- leaving -----------------------------------------------------------------------------------------------

    def clear(self) -> int:
        """Delete every key of the replay namespace but its description (ioc/replay/registry.py); how many went."""
        pattern = self.target.all_keys_pattern()
        found = [key for key in self.client.scan_iter(match=pattern, count=1000) if key != self.target.replay()]
        for start in range(0, len(found), 500):
            for key in found[start : start + 500]:  # one by one: a cluster spreads a namespace over several slots
                self.client.delete(key)
        return len(found)

    def expire(self, ttl_s: int) -> int:
        """Give every key of the replay namespace `ttl_s` more seconds to live (its backstop if nobody removes it)."""
        found = list(self.client.scan_iter(match=self.target.all_keys_pattern(), count=1000))
        pipe = self.client.pipeline(transaction=False)
        for key in found:
            pipe.expire(key, ttl_s)
        pipe.execute()
        return len(found)

    def close(self) -> None:
        """Give the replay aggregator's connections back."""
        if self.aggregator is not None:
            self.aggregator.close()
            self.aggregator = None
