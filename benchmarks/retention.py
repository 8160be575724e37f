"""A month and more of generated history pruned as a running system prunes it: raw events (by the day's share of
each domain, fields copied from the seeded normal-day simulation), alerts and dead letters spread over `days` days
in Redis, incidents with their audit rows and applied alerts in SQL (an SQLite file in a temporary folder); then
the aggregator's age_out and the incident engine's prune_alerts with the retention settings. Reports memory
(MEMORY USAGE of every stream, INFO used_memory) and SQL rows and bytes before and after, and checks that nothing
that must stay is gone: open incidents and all their alerts, every incident and audit row, every alert the incident
engine has not acknowledged (one domain's engine is left stuck `stuck_days` ago), everything recent."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Final, cast

import orjson
import sqlalchemy as sa

from benchmarks.managers import bench_database, insert
from benchmarks.managers import generate as generate_incidents
from benchmarks.throughput import BENCH_START, wipe
from ioc.aggregator import Aggregator
from ioc.audit import AuditRow
from ioc.city import City
from ioc.cluster import Client
from ioc.db import Database, open_database
from ioc.incidents.engine import IncidentEngine, Rules
from ioc.incidents.model import Limits
from ioc.incidents.tables import IncidentAlertRow, IncidentRow
from ioc.keys import AGGREGATOR_GROUP, DOMAINS, INCIDENTS_GROUP, Domain, Keys
from ioc.settings import Settings
from ioc.streams.retention import entry_pair
from simulators import load_scenario
from simulators.engine import generate
from simulators.runner import write_events

DAY: Final = 86_400.0
OPEN: Final = ("new", "acknowledged", "dispatched")
PIPELINE: Final = 2_000


def _sample_fields(client: Client, city: City, seed: int) -> dict[Domain, list[dict[str, str]]]:
    """Wire fields of a few thousand simulated events per domain, to copy into the month's streams."""
    keys = Keys(f"bench-sample-{uuid.uuid4().hex[:8]}")
    try:
        write_events(
            client, keys, islice(generate(city, load_scenario("normal-day"), seed, BENCH_START), 5_000), maxlen=10_000
        )
        return {domain: [fields for _, fields in client.xrange(keys.events(domain))] for domain in DOMAINS}
    finally:
        wipe(client, keys)


def _fill(client: Client, key: str, rows: list[dict[str, str]], count: int, start: float, end: float) -> list[str]:
    """`count` entries spread evenly from `start` to `end` (epoch seconds), fields taken in turn from `rows`."""
    step = (end - start) * 1000 / max(count, 1)
    ids = [f"{int(start * 1000 + n * step)}-{n}" for n in range(count)]
    for first in range(0, count, PIPELINE):
        pipe = client.pipeline(transaction=False)
        for n in range(first, min(first + PIPELINE, count)):
            pipe.xadd(key, rows[n % len(rows)], id=ids[n])
        pipe.execute()
    return ids


def _alert(domain: Domain, n: int) -> dict[str, str]:
    """An alerts entry shaped as the aggregator writes one (kind, place, old and new state, times)."""
    return {
        "type": f"{domain}.state.changed",
        "place": f"{domain}-{n % 40:03d}",
        "old": "normal",
        "new": "alarm" if n % 2 else "normal",
        "severity": "warning",
        "at": f"{1_700_000_000 + n:.3f}",
        "detail": "",
    }


def _letter(key: str, n: int, sample: dict[str, str]) -> dict[str, str]:
    """A dead letter as the aggregator keeps one: the reason, where the entry came from and its fields."""
    return {
        "reason": "unknown sensor 'cam-9999'",
        "stream": key,
        "entry_id": f"{1_700_000_000_000 + n}-0",
        "fields": orjson.dumps(sample).decode(),
        "at": f"{1_700_000_000 + n:.3f}",
    }


def _streams(keys: Keys) -> list[str]:
    return [key for domain in DOMAINS for key in (keys.events(domain), keys.alerts(domain), keys.deadletter(domain))]


def _memory(client: Client, keys: Keys) -> dict[str, int]:
    """Bytes of every stream of the namespace by kind (MEMORY USAGE, every node counted), and the server's."""
    kinds = {"events": 0, "alerts": 0, "deadletter": 0}
    for domain in DOMAINS:
        for kind, key in (
            ("events", keys.events(domain)),
            ("alerts", keys.alerts(domain)),
            ("deadletter", keys.deadletter(domain)),
        ):
            kinds[kind] += int(client.memory_usage(key, samples=0) or 0)
    kinds["used_memory"] = int(client.info("memory")["used_memory"])
    return kinds


def _sql(db: Database) -> dict[str, int]:
    """Rows of the tables that grow, and the bytes SQLite's pages in use hold."""
    with db.transaction() as session:
        figures = {
            "incidents": session.scalar(sa.select(sa.func.count()).select_from(IncidentRow)) or 0,
            "open_incidents": session.scalar(
                sa.select(sa.func.count()).select_from(IncidentRow).where(IncidentRow.status.in_(OPEN))
            )
            or 0,
            "audit": session.scalar(sa.select(sa.func.count()).select_from(AuditRow)) or 0,
            "incident_alerts": session.scalar(sa.select(sa.func.count()).select_from(IncidentAlertRow)) or 0,
        }
        if db.dialect == "sqlite":
            pages = session.execute(sa.text("PRAGMA page_count")).scalar() or 0
            free = session.execute(sa.text("PRAGMA freelist_count")).scalar() or 0
            size = session.execute(sa.text("PRAGMA page_size")).scalar() or 0
            figures["bytes_in_use"] = (pages - free) * size
    return figures


def _alert_rows(
    keys: Keys, incidents: list[dict[str, Any]], unattached_per_day: int, days: int, now: float
) -> list[dict[str, Any]]:
    """Applied alerts: two per incident (at its opening), and alerts of no incident spread over the days."""
    rows: list[dict[str, Any]] = []
    for incident in incidents:
        for n in range(2):
            rows.append(
                {
                    "entry": f"{keys.namespace}/flood/i{incident['id']}-{n}",
                    "incident_id": incident["id"],
                    "kind": "flood.level.changed",
                    "place": incident["place"],
                    "old": "normal",
                    "new": "alarm-2",
                    "severity": incident["severity"],
                    "at": incident["opened_at"],
                    "received_at": incident["opened_at"],
                }
            )
    count = unattached_per_day * days
    for n in range(count):
        at = datetime.fromtimestamp(now - days * DAY + n * days * DAY / count, UTC)
        rows.append(
            {
                "entry": f"{keys.namespace}/traffic/u{n}",
                "incident_id": None,
                "kind": "traffic.congestion.changed",
                "place": f"seg-{n % 50}",
                "old": "flowing",
                "new": "congested",
                "severity": "info",
                "at": at,
                "received_at": at,
            }
        )
    return rows


def measure_retention(
    client: Client,
    city: City,
    *,
    days: int = 40,
    events_per_day: int = 20_000,
    alerts_per_day: int = 400,
    deadletters_per_day: int = 200,
    incidents: int = 600,
    stuck_days: float = 32.0,
    settings: Settings | None = None,
    seed: int = 1,
) -> dict[str, Any]:
    """Generate `days` days of history, prune it with the retention settings, and measure before and after."""
    settings = settings or Settings()
    keys = Keys(f"bench-ret-{uuid.uuid4().hex[:8]}")
    now = time.time()
    start = now - days * DAY
    samples = _sample_fields(client, city, seed)
    total = sum(len(rows) for rows in samples.values())
    started = time.perf_counter()
    unread: list[str] = []
    with bench_database(None) as (db_settings, _):
        db = open_database(db_settings)
        db.upgrade()
        try:
            for domain in DOMAINS:
                share = round(events_per_day * days * len(samples[domain]) / total)
                if share:
                    _fill(client, keys.events(domain), samples[domain], share, start, now)
                client.xgroup_create(keys.events(domain), AGGREGATOR_GROUP, id="$", mkstream=True)
                alerts = [_alert(domain, n) for n in range(200)]
                ids = _fill(client, keys.alerts(domain), alerts, alerts_per_day * days // 4, start, now)
                if domain == "traffic":  # its engine stopped stuck_days ago: nothing after that is acknowledged
                    stuck = int((now - stuck_days * DAY) * 1000)
                    delivered = max(entry_pair(entry_id) for entry_id in ids if entry_pair(entry_id)[0] < stuck)
                    client.xgroup_create(keys.alerts(domain), INCIDENTS_GROUP, id=f"{delivered[0]}-{delivered[1]}")
                    unread = [entry_id for entry_id in ids if entry_pair(entry_id) > delivered]
                else:
                    client.xgroup_create(keys.alerts(domain), INCIDENTS_GROUP, id="$")
                copied = samples[domain] or samples["traffic"]  # a domain quiet in the sample: some entry's fields
                letters = [_letter(keys.events(domain), n, copied[n % len(copied)]) for n in range(50)]
                _fill(client, keys.deadletter(domain), letters, deadletters_per_day * days // 4, start, now)
            made, audit = generate_incidents(
                city, incidents, seed=seed, end=datetime.fromtimestamp(now, UTC), days=days
            )
            for incident in made[:10]:  # the oldest ten still open: they and their alerts must stay
                incident.update(status="acknowledged", dispatched_at=None, resolved_at=None, closed_at=None)
            insert(db, made, audit)
            with db.transaction() as session:
                rows = _alert_rows(keys, made, alerts_per_day // 2, days, now)
                for first in range(0, len(rows), 5_000):
                    session.execute(sa.insert(cast(sa.Table, IncidentAlertRow.__table__)), rows[first : first + 5_000])
            generated_s = time.perf_counter() - started
            before_redis, before_sql = _memory(client, keys), _sql(db)
            lengths_before = {key: client.xlen(key) for key in _streams(keys)}
            cutoffs = {
                "events": now - settings.stream_retention_h * 3600,
                "alerts": now - settings.alerts_retention_days * DAY,
                "deadletter": now - settings.deadletter_retention_days * DAY,
            }

            def recent() -> dict[str, int]:
                """Entries of each stream newer than its kind's retention."""
                return {
                    key: len(client.xrange(key, min=str(int(cutoffs[key.rsplit(":", 1)[1]] * 1000))))
                    for key in _streams(keys)
                }

            recent_before = recent()

            aggregator = Aggregator(
                client,
                keys,
                city,
                consumer="bench-retention",
                retention_s=settings.stream_retention_h * 3600,
                alerts_retention_s=settings.alerts_retention_days * DAY,
                deadletter_retention_s=settings.deadletter_retention_days * DAY,
            )
            engine = IncidentEngine(
                client,
                db,
                keys,
                city,
                rules=Rules.of(settings),
                limits=Limits.of(settings),
                consumer="bench-retention",
                alert_retention_days=settings.incident_alert_retention_days,
            )
            started = time.perf_counter()
            # Passes as the aggregator makes them every minute, each bounded, until one trims nothing.
            trimmed: dict[str, int] = {"events": 0, "alerts": 0, "deadletter": 0}
            passes: list[float] = []
            while True:
                began = time.perf_counter()
                went: dict[str, int] = {k: sum(n.values()) for k, n in aggregator.age_out(now).items()}
                passes.append(round(time.perf_counter() - began, 2))
                trimmed = {kind: trimmed[kind] + went[kind] for kind in trimmed}
                if not any(went.values()):
                    break
            pruned_rows = engine.prune_alerts(now)
            prune_s = time.perf_counter() - started
            aggregator.close()
            after_redis, after_sql = _memory(client, keys), _sql(db)

            left = {entry_id for entry_id, _ in client.xrange(keys.alerts("traffic"))}
            kept_recent = recent() == recent_before
            with db.transaction() as session:
                open_ids = session.scalars(sa.select(IncidentRow.id).where(IncidentRow.status.in_(OPEN))).all()
                open_alerts = session.scalar(
                    sa.select(sa.func.count())
                    .select_from(IncidentAlertRow)
                    .where(IncidentAlertRow.incident_id.in_(open_ids))
                )
                attached = session.scalar(
                    sa.select(sa.func.count())
                    .select_from(IncidentAlertRow)
                    .where(IncidentAlertRow.incident_id.is_not(None))
                )
            checks = {
                "open_incidents_kept": after_sql["open_incidents"] == before_sql["open_incidents"] >= 10,
                "open_incidents_alerts_kept": open_alerts == 2 * len(open_ids),
                "incident_alerts_kept": attached == 2 * len(made),
                "incidents_kept": after_sql["incidents"] == before_sql["incidents"],
                "audit_kept": after_sql["audit"] == before_sql["audit"],
                "unacknowledged_alerts_kept": set(unread) <= left,
                "recent_entries_kept": kept_recent,
            }
        finally:
            db.close()
            wipe(client, keys)
    return {
        "retention_days_generated": days,
        "retention_settings": {
            "stream_retention_h": settings.stream_retention_h,
            "alerts_retention_days": settings.alerts_retention_days,
            "deadletter_retention_days": settings.deadletter_retention_days,
            "incident_alert_retention_days": settings.incident_alert_retention_days,
        },
        "retention_entries_before": {
            kind: sum(n for key, n in lengths_before.items() if key.endswith(f":{kind}"))
            for kind in ("events", "alerts", "deadletter")
        },
        "retention_trimmed": trimmed,
        "retention_pass_s": passes,
        "retention_redis_bytes_before": before_redis,
        "retention_redis_bytes_after": after_redis,
        "retention_sql_before": before_sql,
        "retention_sql_after": after_sql,
        "retention_sql_rows_pruned": pruned_rows,
        "retention_generate_s": round(generated_s, 1),
        "retention_prune_s": round(prune_s, 2),
        "retention_checks": checks,
    }


def describe_retention(figures: dict[str, Any]) -> list[str]:
    """The pruning figures as printed lines."""
    before, after = figures["retention_redis_bytes_before"], figures["retention_redis_bytes_after"]
    sql_before, sql_after = figures["retention_sql_before"], figures["retention_sql_after"]
    lines = [
        f"history pruned:          {figures['retention_days_generated']} days generated in "
        f"{figures['retention_generate_s']} s, pruned in {figures['retention_prune_s']} s "
        f"(aggregator passes of {figures['retention_pass_s']} s, the last trimming nothing) with "
        f"{figures['retention_settings']}",
    ]
    for kind in ("events", "alerts", "deadletter"):
        lines.append(
            f"  {kind + ':':<22}{figures['retention_entries_before'][kind]:,} entries, {before[kind]:,} bytes -> "
            f"{figures['retention_trimmed'][kind]:,} trimmed, {after[kind]:,} bytes"
        )
    lines.append(f"  {'redis used_memory:':<22}{before['used_memory']:,} -> {after['used_memory']:,} bytes")
    lines.append(
        f"  {'sql:':<22}incident_alerts {sql_before['incident_alerts']:,} -> {sql_after['incident_alerts']:,} "
        f"rows, incidents {sql_before['incidents']:,} -> {sql_after['incidents']:,} "
        f"({sql_after['open_incidents']} open), audit {sql_before['audit']:,} -> {sql_after['audit']:,}, "
        f"bytes in use {sql_before.get('bytes_in_use', 0):,} -> {sql_after.get('bytes_in_use', 0):,}"
    )
    failed = [name for name, ok in figures["retention_checks"].items() if not ok]
    lines.append(f"  {'kept what must stay:':<22}{'yes' if not failed else 'NO: ' + ', '.join(failed)}")
    return lines
