"""Alerts per second through the incident engine, on the embedded SQLite file and on PostgreSQL: an alarm storm
(stations flapping between BĐ II and III, segments flapping in and out of congestion) drained by one engine into
a fresh database, a few rounds, median reported."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ioc.city import City
from ioc.cluster import Client
from ioc.db import Database, sqlalchemy_url
from ioc.documents import Alert
from ioc.incidents.engine import IncidentEngine, Rules
from ioc.incidents.model import Limits
from ioc.incidents.tables import IncidentRow
from ioc.keys import Keys
from ioc.settings import Settings

STORM_START = 1_790_000_000.0  # event time of the first alert (a fixed moment in 2026)


def alarm_storm(
    client: Client, keys: Keys, stations: list[str], segments: list[str], total: int, base: float = STORM_START
) -> dict[str, int]:
    """Append an alarm storm of `total` alerts from `base` on, half flood and half traffic: stations flapping
    BĐ II → III → II → normal, segments in and out of congestion within a minute; the count sent per domain."""
    sent = {"flood": 0, "traffic": 0}
    pipe = client.pipeline(transaction=False)
    for i in range(total):
        ts = base + i * 0.5
        if i % 2 == 0:
            place = stations[(i // 2) % len(stations)]
            level = ("2", "3", "2", "0")[(i // (2 * len(stations))) % 4]
            alert = Alert("flood.level.changed", ts, place, "", level, "warning", 15.5, 108.5)
            pipe.xadd(keys.alerts("flood"), alert.stream_fields())
            sent["flood"] += 1
        else:
            place = segments[(i // 2) % len(segments)]
            state = ("congested", "flowing")[(i // (2 * len(segments))) % 2]
            alert = Alert("traffic.congestion.changed", ts, place, "", state, "warning", 15.5, 108.5)
            pipe.xadd(keys.alerts("traffic"), alert.stream_fields())
            sent["traffic"] += 1
    pipe.execute()
    return sent


@contextlib.contextmanager
def fresh_database(kind: str, postgres_url: str | None) -> Iterator[Database]:
    """A migrated empty database: an SQLite file in a temporary folder, or a new schema on PostgreSQL (dropped)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ioc-bench-") as folder:
            db = Database(f"sqlite+pysqlite:///{Path(folder) / 'ioc.sqlite3'}")
            db.upgrade()
            try:
                yield db
            finally:
                db.close()
        return
    assert postgres_url is not None
    admin_url = sqlalchemy_url(postgres_url)
    schema = f"bench{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    db = Database(admin_url.update_query_dict({"options": f"-csearch_path={schema}"}))
    try:
        db.upgrade()
        yield db
    finally:
        db.close()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def measure_incident_engine(
    client: Client,
    city: City,
    *,
    postgres_url: str | None,
    alerts: int = 5000,
    rounds: int = 3,
    batch_size: int = 500,
) -> dict[str, Any]:
    """Drain an alarm storm through the engine on each database; alerts/s (median) and incidents opened."""
    stations = [s.id for s in city.sensors_of("water_station")]
    segments = list(city.segments)[:40]
    kinds = ["sqlite"] + (["postgresql"] if postgres_url else [])
    figures: dict[str, Any] = {"incident_alerts": alerts, "incident_rounds": rounds}
    limits = Limits.of(Settings())
    for kind in kinds:
        rates: list[float] = []
        opened = 0
        for round_ in range(rounds):
            keys = Keys(f"bench-incidents-{uuid.uuid4().hex[:8]}")
            try:
                with fresh_database(kind, postgres_url) as db:
                    alarm_storm(client, keys, stations, segments, alerts)
                    engine = IncidentEngine(
                        client,
                        db,
                        keys,
                        city,
                        rules=Rules(),
                        limits=limits,
                        consumer=f"bench-{round_}",
                        batch_size=batch_size,
                    )
                    engine.setup()
                    started = time.perf_counter()
                    handled = engine.drain()
                    seconds = time.perf_counter() - started
                    assert handled == alerts, f"drained {handled} of {alerts}"
                    rates.append(alerts / seconds)
                    with db.read() as session:
                        opened = int(session.scalar(sa.select(sa.func.count()).select_from(IncidentRow)) or 0)
            finally:
                doomed = list(client.scan_iter(match=keys.all_keys_pattern(), count=1000))
                if doomed:
                    client.delete(*doomed)
        figures[f"incident_engine_{kind}_alerts_per_s"] = round(statistics.median(rates))
        figures[f"incident_engine_{kind}_per_round"] = [round(rate) for rate in rates]
        figures[f"incident_engine_{kind}_incidents"] = opened
    return figures
