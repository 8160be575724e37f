"""How fast the managers' page gets its figures over a year of incidents (about 50,000, with an audit row for each
transition): the report computed by ioc.incidents.reports for the default period (365 days) and for 30 days, and
the page's figures callback posted over HTTP through the real Dash app as a signed-in manager, as a browser does.

The year is generated with fixed seeds and realistic shapes: a morning and an evening peak in the city's hours,
floods and heavy rain mostly in the rainy season (September to December), severities by type, times to acknowledge
and resolve drawn from log-normal distributions (slower at night), overdue flags from the default time limits, the
newest incidents still open. Rows go in with bulk inserts. The database is an embedded SQLite file in a temporary
folder, or the PostgreSQL at a URL, in a schema of the bench's own, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import math
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

import redis
import sqlalchemy as sa
import sqlalchemy.pool

from app_factory import serving
from benchmarks.browser import BrowserPage, Reply
from ioc.audit import AuditRow
from ioc.city import City
from ioc.db import Database, open_database, sqlalchemy_url, utcnow
from ioc.identity.accounts import create_account
from ioc.identity.roles import Role
from ioc.incidents.model import Limits
from ioc.incidents.places import Place, nearest_cameras, place_of
from ioc.incidents.queries import Filters
from ioc.incidents.reports import export_bytes, last_days, read_incidents, report
from ioc.incidents.tables import IncidentRow
from ioc.keys import Keys
from ioc.settings import Settings
from layouts.managers import ids
from layouts.managers.page import PATH

DEFAULT_INCIDENTS: Final = 50_000
BATCH: Final = 5_000
PASSWORD: Final = "bench manager password"
# Share of the day's incidents per local hour: quiet nights, a morning and an evening peak.
HOURLY: Final = (
    1.0,
    0.6,
    0.5,
    0.5,
    0.6,
    1.0,
    2.0,
    4.0,
    5.0,
    3.0,
    2.5,
    2.5,
    3.0,
    2.5,
    2.5,
    3.0,
    4.0,
    5.0,
    4.5,
    3.0,
    2.0,
    1.8,
    1.5,
    1.2,
)
TYPES: Final = {  # type: (weight, rainy-season factor, median minutes to resolve)
    "congestion": (30, 1.0, 40),
    "device_offline": (15, 1.2, 240),
    "speed_violations": (14, 0.8, 30),
    "traffic_accident": (12, 1.1, 90),
    "heavy_rain": (6, 4.0, 120),
    "flood": (5, 5.0, 300),
    "fallen_tree": (4, 2.0, 150),
    "power_outage": (4, 1.5, 180),
    "fire": (2, 0.7, 120),
    "other": (3, 1.0, 60),
}
SEVERITY: Final = {"flood": (5, 35, 60), "fire": (5, 25, 70), "traffic_accident": (10, 50, 40)}  # info, warning, crit
SEVERITY_DEFAULT: Final = (30, 55, 15)
ACK_MEDIAN_MIN: Final = {"critical": 3.0, "warning": 7.0, "info": 15.0}
RAINY_MONTHS: Final = (9, 10, 11, 12)
OPERATORS: Final = tuple(f"op-{n}" for n in range(1, 9))
UNITS: Final = ("police-113", "fire-114", "ambulance-115", "public-works", "flood-response")


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def generate(
    city: City, count: int, *, seed: int, end: datetime, days: int = 365
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`count` incidents over the `days` before `end`, with their audit rows (ids given, so they insert in bulk)."""
    rng = random.Random(seed)
    tz = ZoneInfo(city.timezone)
    limits = Limits.of(Settings())
    places: dict[str, list[Place]] = {}
    for place_id in [*city.sensors, *city.segments]:
        place = place_of(city, place_id)
        places.setdefault(place.ward or "", []).append(place)
    wards = sorted(places)
    ward_weights = [len(places[w]) for w in wards]  # busier wards have more roads and sensors
    cameras = {p.id: nearest_cameras(city, p.lat, p.lon) for ps in places.values() for p in ps}
    first_day = end.astimezone(tz).date() - timedelta(days=days - 1)  # today is the last day
    incidents: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    names = list(TYPES)
    for n in range(1, count + 1):
        day = first_day + timedelta(days=rng.randrange(days))
        hour = rng.choices(range(24), weights=HOURLY)[0]
        local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=tz)
        opened = local.astimezone(ZoneInfo("UTC"))
        if opened >= end:
            opened = end - timedelta(minutes=rng.uniform(1, 600))
        rainy = day.month in RAINY_MONTHS
        kind = rng.choices(names, weights=[w * (f if rainy else 1.0) for w, f, _ in TYPES.values()])[0]
        severity = rng.choices(("info", "warning", "critical"), weights=SEVERITY.get(kind, SEVERITY_DEFAULT))[0]
        place = rng.choice(places[rng.choices(wards, weights=ward_weights)[0]])
        night = hour >= 22 or hour < 6
        ack = opened + timedelta(minutes=_lognormal(rng, ACK_MEDIAN_MIN[severity] * (1.5 if night else 1.0), 0.8))
        dispatched = ack + timedelta(minutes=_lognormal(rng, 5.0, 0.6))
        resolved = opened + timedelta(
            minutes=max(_lognormal(rng, TYPES[kind][2], 0.7), (dispatched - opened).total_seconds() / 60 + 1)
        )
        closed = resolved + timedelta(minutes=_lognormal(rng, 60.0, 0.8))
        steps: dict[str, datetime | None] = {
            k: (v if v <= end else None)
            for k, v in (
                ("acknowledged_at", ack),
                ("dispatched_at", dispatched),
                ("resolved_at", resolved),
                ("closed_at", closed),
            )
        }
        status = "new"
        for name, reached in (
            ("acknowledged", "acknowledged_at"),
            ("dispatched", "dispatched_at"),
            ("resolved", "resolved_at"),
            ("closed", "closed_at"),
        ):
            if steps[reached] is not None:
                status = name
        ack_due, resolve_due = limits.ack_due(opened, severity), limits.resolve_due(opened, severity)
        engine = kind in ("flood", "heavy_rain", "congestion", "device_offline", "speed_violations")
        operator = rng.choice(OPERATORS)
        incidents.append(
            {
                "id": n,
                "type": kind,
                "source": "engine" if engine else "manual",
                "place": place.id,
                "place_kind": place.kind,
                "place_name": place.name[:200],
                "ward": place.ward,
                "lat": place.lat,
                "lon": place.lon,
                "open_key": None,
                "severity": severity,
                "peak_severity": severity,
                "status": status,
                "description": "" if engine else "reported by phone",
                "condition": "cleared" if engine else "none",
                "condition_at": None,
                "detected_at": opened - timedelta(seconds=rng.uniform(0, 120)) if engine else opened,
                "opened_at": opened,
                "opened_by": "engine" if engine else operator,
                **steps,
                "updated_at": max(v for v in (opened, *steps.values()) if v is not None),
                "unit": rng.choice(UNITS) if steps["dispatched_at"] else None,
                "ack_due_at": ack_due,
                "resolve_due_at": resolve_due,
                "ack_overdue": (steps["acknowledged_at"] or end) > ack_due,
                "resolve_overdue": (steps["resolved_at"] or end) > resolve_due,
                "alert_count": 1 if engine else 0,
                "last_alert_at": opened if engine else None,
                "cameras": cameras[place.id],
                "version": 1,
            }
        )
        before: dict[str, Any] | None = None
        for action, at in (
            ("open", opened),
            ("acknowledge", steps["acknowledged_at"]),
            ("dispatch", steps["dispatched_at"]),
            ("resolve", steps["resolved_at"]),
            ("close", steps["closed_at"]),
        ):
            if at is None:
                break
            after = {
                "status": {
                    "open": "new",
                    "acknowledge": "acknowledged",
                    "dispatch": "dispatched",
                    "resolve": "resolved",
                    "close": "closed",
                }[action],
                "severity": severity,
            }
            audit.append(
                {
                    "at": at,
                    "actor": "engine" if action == "open" and engine else operator,
                    "action": f"incident.{action}",
                    "object_type": "incident",
                    "object_id": str(n),
                    "before": before,
                    "after": after,
                    "address": None,
                }
            )
            before = after
    return incidents, audit


def insert(db: Database, incidents: list[dict[str, Any]], audit: list[dict[str, Any]]) -> None:
    """Bulk inserts, a few thousand rows per statement."""
    with db.transaction() as session:
        for table, rows in (
            (cast(sa.Table, IncidentRow.__table__), incidents),
            (cast(sa.Table, AuditRow.__table__), audit),
        ):
            for start in range(0, len(rows), BATCH):
                session.execute(sa.insert(table), rows[start : start + BATCH])
        if db.dialect == "postgresql":  # ids were given: move the sequence past them
            session.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('incidents', 'id'), (SELECT max(id) FROM incidents))")
            )


@contextlib.contextmanager
def bench_database(url: str | None) -> Iterator[tuple[Settings, str]]:
    """Settings on a throw-away database: an SQLite file in a temporary folder, or a fresh schema of the PostgreSQL at
    `url` (dropped afterwards); and a description of it."""
    with tempfile.TemporaryDirectory(prefix="ioc-bench-managers-") as folder:
        if url is None:
            yield Settings(data_dir=Path(folder), database_url=None), "embedded SQLite (file in a temporary folder)"
            return
        base = sqlalchemy_url(url)
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(base, poolclass=sqlalchemy.pool.NullPool)
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            version = connection.exec_driver_sql("SHOW server_version").scalar()
        try:
            scoped = base.update_query_dict({"options": f"-csearch_path={schema}"})
            yield (
                Settings(data_dir=Path(folder), database_url=scoped.render_as_string(hide_password=False)),
                f"PostgreSQL {version} at {base.render_as_string(hide_password=True).split('@')[-1]}",
            )
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


def _median_ms(run: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """The median wall time of `rounds` runs in milliseconds, and the last run's result."""
    took, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = run()
        took.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(took), 1), result


def measure_managers(
    city: City,
    redis_url: str,
    *,
    database_url: str | None = None,
    count: int = DEFAULT_INCIDENTS,
    rounds: int = 5,
    seed: int = 1,
) -> dict[str, Any]:
    """Generate the year, then time the figures for 365 and 30 days, directly and through the page's callback."""
    with bench_database(database_url) as (settings, where):
        db = open_database(settings)
        try:
            db.upgrade()
            return _measure(db, settings, city, redis_url, where=where, count=count, rounds=rounds, seed=seed)
        finally:
            db.close()


def _measure(
    db: Database, settings: Settings, city: City, redis_url: str, *, where: str, count: int, rounds: int, seed: int
) -> dict[str, Any]:
    end = utcnow()
    started = time.perf_counter()
    incidents, audit = generate(city, count, seed=seed, end=end)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    insert(db, incidents, audit)
    inserted = time.perf_counter() - started
    figures: dict[str, Any] = {
        "managers_database": where,
        "managers_incidents": len(incidents),
        "managers_audit_rows": len(audit),
        "managers_generate_s": round(generated, 2),
        "managers_insert_s": round(inserted, 2),
        "managers_rounds": rounds,
    }
    tz = city.timezone
    for days in (365, 30):
        since, until = last_days(days, tz=tz, now=end)
        filters = Filters(since=since, until=until)
        figures[f"managers_read_{days}d_ms"], _ = _median_ms(partial(read_incidents, db, filters), rounds)
        figures[f"managers_report_{days}d_ms"], got = _median_ms(partial(report, db, filters, tz=tz), rounds)
        figures[f"managers_report_{days}d_incidents"] = got.total
    since, until = last_days(30, tz=tz, now=end)
    for fmt in ("csv", "xlsx"):
        run = partial(export_bytes, db, Filters(since=since, until=until), fmt, tz=tz)
        ms, (_, content) = _median_ms(run, max(1, rounds // 2))
        figures[f"managers_export_30d_{fmt}_ms"], figures[f"managers_export_30d_{fmt}_bytes"] = ms, len(content)
    figures |= _measure_http(db, settings, redis_url, rounds=rounds)
    return figures


def _measure_http(db: Database, settings: Settings, redis_url: str, *, rounds: int) -> dict[str, Any]:
    """The page's figures callback over HTTP (Flask's test client), signed in as a manager: time and bytes."""
    keys = Keys(f"bench-mgr-{uuid.uuid4().hex[:8]}")
    app_settings = settings.model_copy(update={"redis_url": redis_url, "namespace": keys.namespace, "secret_key": None})
    figures: dict[str, Any] = {}
    try:
        with serving(app_settings) as app:
            manager = create_account(db, "bench-manager", Role.MANAGER, PASSWORD, actor="bench")
            page = BrowserPage(app, PATH, "?lang=vi", user=(manager.username, PASSWORD))
            for days in (365, 30):

                def post(d: int = days) -> Reply:
                    (reply,) = page.set(ids.PERIOD, "value", str(d))
                    if reply.status != 200:
                        raise RuntimeError(f"the managers' callback answered HTTP {reply.status}")
                    return reply

                figures[f"managers_http_{days}d_ms"], last = _median_ms(post, rounds)
                figures[f"managers_http_{days}d_bytes"] = last.size
    finally:
        client = redis.Redis.from_url(redis_url)
        try:
            batch = list(client.scan_iter(match=keys.all_keys_pattern(), count=1000))
            if batch:
                client.delete(*batch)
        finally:
            client.close()
    return figures


def describe(figures: dict[str, Any]) -> list[str]:
    """The figures as lines for people."""
    f = figures
    return [
        f"managers' page database: {f['managers_database']}",
        f"managers' year:          {f['managers_incidents']:,} incidents, {f['managers_audit_rows']:,} audit rows "
        f"(generated {f['managers_generate_s']} s, inserted {f['managers_insert_s']} s)",
        f"managers' report 365 d:  {f['managers_report_365d_ms']} ms ({f['managers_report_365d_incidents']:,} "
        f"incidents; the query into pandas {f['managers_read_365d_ms']} ms), median of {f['managers_rounds']}",
        f"managers' report 30 d:   {f['managers_report_30d_ms']} ms ({f['managers_report_30d_incidents']:,} "
        f"incidents; query {f['managers_read_30d_ms']} ms)",
        f"managers' page HTTP:     365 d {f['managers_http_365d_ms']} ms ({f['managers_http_365d_bytes']:,} bytes), "
        f"30 d {f['managers_http_30d_ms']} ms ({f['managers_http_30d_bytes']:,} bytes)",
        f"managers' export 30 d:   CSV zip {f['managers_export_30d_csv_ms']} ms "
        f"({f['managers_export_30d_csv_bytes']:,} bytes), Excel {f['managers_export_30d_xlsx_ms']} ms "
        f"({f['managers_export_30d_xlsx_bytes']:,} bytes)",
    ]
