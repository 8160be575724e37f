"""Is the system ready to serve: Redis and the database answer, the aggregator's heartbeat is fresh and it keeps up
with its streams. For the web's /readyz (load balancers, monitoring; no city data in the answer) and the fuller
`ioc status` (per domain: stream length, retained time and memory, backlog, processed, dead letters; heartbeats;
the incident engine's backlog; the database's revision).

The aggregator's backlog per domain is its consumer group's pending entries (delivered, not yet acknowledged) plus
the entries not yet delivered (the group's lag: Redis 7 reports it; on Redis 6.2 it is counted, up to a cap).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import redis

if TYPE_CHECKING:
    from ioc.db import Database

from ioc.cluster import Client
from ioc.errors import DatabaseError
from ioc.keys import AGGREGATOR_GROUP, DOMAINS, INCIDENTS_GROUP, Domain, Keys

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


def group_backlog(client: Client, stream: str, group: str) -> Backlog | None:
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


def aggregator_backlog(client: Client, keys: Keys) -> dict[Domain, Backlog | None]:
    """The aggregator's backlog on each domain's raw stream."""
    return {domain: group_backlog(client, keys.events(domain), AGGREGATOR_GROUP) for domain in DOMAINS}


def heartbeat_age(client: Client, keys: Keys, now: float) -> float | None:
    """Seconds since the aggregator's loop last beat, or None if it never did."""
    beat = client.hget(keys.heartbeat(), "loop")
    try:
        return max(0.0, now - float(beat)) if beat is not None else None
    except ValueError:
        return None


def readiness(
    client: Client,
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


def _entry_time(entry_id: str) -> float:
    """The wall time (epoch seconds) a stream entry id was made at."""
    return int(entry_id.partition("-")[0]) / 1000


def stream_figures(client: Client, stream: str) -> dict[str, Any]:
    """A stream's length, the time its retained history spans, and its memory (Redis' sampled estimate)."""
    length = int(client.xlen(stream))
    figures: dict[str, Any] = {"length": length, "oldest": None, "newest": None, "retained_s": 0.0, "memory_bytes": 0}
    if length:
        oldest, newest = client.xrange(stream, count=1)[0][0], client.xrevrange(stream, count=1)[0][0]
        figures.update(
            oldest=_entry_time(oldest),
            newest=_entry_time(newest),
            retained_s=round(_entry_time(newest) - _entry_time(oldest), 3),
            memory_bytes=int(client.memory_usage(stream) or 0),
        )
    return figures


def _age(value: Any, now: float) -> float | None:
    """Seconds since an epoch time stored as text, or None."""
    try:
        return round(max(0.0, now - float(value)), 1) if value is not None else None
    except (TypeError, ValueError):
        return None


def status_report(
    client: Client,
    database: Database | None,
    keys: Keys,
    *,
    heartbeat_max_age_s: float,
    max_backlog: int,
    now: float | None = None,
) -> dict[str, Any]:
    """Everything `ioc status` shows for a namespace, and the problems found (empty: all is well)."""
    now = time.time() if now is None else now
    problems: list[str] = []
    domains: dict[str, Any] = {}
    for domain in DOMAINS:
        stats = client.hgetall(keys.stats(domain))
        backlog = group_backlog(client, keys.events(domain), AGGREGATOR_GROUP)
        incidents = group_backlog(client, keys.alerts(domain), INCIDENTS_GROUP)
        domains[domain] = {
            **stream_figures(client, keys.events(domain)),
            "pending": backlog.pending if backlog else None,
            "undelivered": backlog.undelivered if backlog else None,
            "processed": int(stats.get("processed", 0)),
            "deadletters": int(client.xlen(keys.deadletter(domain))),
            "alerts": int(client.xlen(keys.alerts(domain))),
            "incidents_backlog": incidents.total if incidents else None,
        }
        if backlog is not None and backlog.total > max_backlog:
            problems.append(f"aggregator behind on {domain}: {backlog.total} entries")
        if incidents is not None and incidents.total > max_backlog:
            problems.append(f"incident engine behind on {domain}: {incidents.total} alerts")
    beat = client.hgetall(keys.heartbeat())
    aggregator = {"consumer": beat.get("consumer"), "heartbeat_age_s": _age(beat.get("loop"), now)}
    aggregator["last_event_age_s"] = _age(beat.get("event"), now)
    if aggregator["heartbeat_age_s"] is None:
        problems.append("aggregator: no heartbeat")
    elif aggregator["heartbeat_age_s"] > heartbeat_max_age_s:
        problems.append(f"aggregator: heartbeat {aggregator['heartbeat_age_s']:.0f} s old")
    engines: dict[str, Any] = {}
    for consumer, text in client.hgetall(keys.incidents_heartbeat()).items():
        try:
            engines[consumer] = {"heartbeat_age_s": _age(json.loads(text).get("at"), now)}
        except (ValueError, AttributeError):
            engines[consumer] = {"heartbeat_age_s": None}
    fresh = [e for e in engines.values() if e["heartbeat_age_s"] is not None]
    if not any(e["heartbeat_age_s"] <= heartbeat_max_age_s for e in fresh):
        problems.append("incident engine: no fresh heartbeat")
    database_status = _database_status(database, problems)
    return {
        "namespace": keys.namespace,
        "ok": not problems,
        "problems": problems,
        "database": database_status,
        "aggregator": aggregator,
        "incident_engines": engines,
        "domains": domains,
    }


def _database_status(database: Database | None, problems: list[str]) -> dict[str, Any]:
    """The database's reachability and migration revision (adding to `problems`)."""
    if database is None:
        problems.append("database: cannot be opened")
        return {"reachable": False}
    try:
        current, head = database.current_revision(), database.head_revision()
    except DatabaseError as exc:
        problems.append(f"database: {exc}")
        return {"reachable": False, "where": database.describe()}
    if current != head:
        problems.append(f"database: at revision {current or 'none'}, the code needs {head} (`ioc db upgrade`)")
    return {"reachable": True, "where": database.describe(), "revision": current, "head": head}
