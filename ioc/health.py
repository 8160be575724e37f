"""Is the system ready to serve: Redis and the database answer, the aggregator's heartbeat is fresh and it keeps up
with its streams. For the web's /readyz (load balancers, monitoring) and `ioc status`; no city data in the answer.

The aggregator's backlog per domain is its consumer group's pending entries (delivered, not yet acknowledged) plus
the entries not yet delivered (the group's lag: Redis 7 reports it; on Redis 6.2 it is counted, up to a cap).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Final

import redis

from ioc.db import Database
from ioc.errors import DatabaseError
from ioc.keys import AGGREGATOR_GROUP, DOMAINS, Domain, Keys

COUNT_CAP: Final = 100_000  # Redis 6.2 has no lag in XINFO GROUPS: undelivered entries are counted up to this


@dataclass(frozen=True)
class Backlog:
    """One consumer group's work left on one stream: delivered but not acknowledged, and not yet delivered."""

    pending: int
    undelivered: int

    @property
    def total(self) -> int:
        """Entries the group still has to finish."""
        return self.pending + self.undelivered


@dataclass(frozen=True)
class Readiness:
    """Each check's verdict ("ok" or what is wrong) and whether all passed."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Whether every check passed."""
        return all(verdict == "ok" for verdict in self.checks.values())


def _after(entry_id: str) -> str:
    """The smallest id after `entry_id` (XRANGE's exclusive start, written out for Redis 6.2)."""
    millis, _, seq = entry_id.partition("-")
    return f"{millis}-{int(seq or 0) + 1}"


def group_backlog(client: redis.Redis, stream: str, group: str) -> Backlog | None:
    """The group's backlog on `stream`, or None when the stream or the group does not exist yet."""
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:  # no such key
        return None
    found = next((g for g in groups if str(g.get("name")) == group), None)
    if found is None:
        return None
    pending = int(found.get("pending") or 0)
    lag = found.get("lag")
    if lag is not None:
        return Backlog(pending, int(lag))
    start = _after(str(found.get("last-delivered-id") or "0-0"))
    undelivered = len(client.xrange(stream, min=start, max="+", count=COUNT_CAP))
    return Backlog(pending, undelivered)


def aggregator_backlog(client: redis.Redis, keys: Keys) -> dict[Domain, Backlog | None]:
    """The aggregator's backlog on each domain's raw stream."""
    return {domain: group_backlog(client, keys.events(domain), AGGREGATOR_GROUP) for domain in DOMAINS}


def heartbeat_age(client: redis.Redis, keys: Keys, now: float) -> float | None:
    """Seconds since the aggregator's loop last beat, or None if it never did."""
    beat = client.hget(keys.heartbeat(), "loop")
    try:
        return max(0.0, now - float(beat)) if beat is not None else None
    except ValueError:
        return None


def readiness(
    client: redis.Redis,
    database: Database | None,
    keys: Keys,
    *,
    heartbeat_max_age_s: float,
    max_backlog: int,
    now: float | None = None,
) -> Readiness:
    """Check Redis, the database (None: it could not be opened) and the aggregator (heartbeat, backlog per domain)."""
    checks: dict[str, str] = {}
    try:
        client.ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        checks["redis"] = f"does not answer: {type(exc).__name__}"
    try:
        if database is None:
            raise DatabaseError("not opened")
        database.check()
        checks["database"] = "ok"
    except DatabaseError:
        checks["database"] = "does not answer"
    if checks["redis"] != "ok":
        checks["aggregator"] = "unknown: Redis does not answer"
        return Readiness(checks)
    try:
        age = heartbeat_age(client, keys, time.time() if now is None else now)
        if age is None:
            checks["aggregator"] = "no heartbeat yet"
        elif age > heartbeat_max_age_s:
            checks["aggregator"] = f"heartbeat {age:.0f} s old (limit {heartbeat_max_age_s:.0f} s)"
        else:
            behind = {
                domain: backlog.total
                for domain, backlog in aggregator_backlog(client, keys).items()
                if backlog is not None and backlog.total > max_backlog
            }
            checks["aggregator"] = (
                "ok"
                if not behind
                else "behind: " + ", ".join(f"{domain} {count} entries" for domain, count in behind.items())
            )
    except redis.RedisError as exc:
        checks["aggregator"] = f"unknown: {type(exc).__name__}"
    return Readiness(checks)
