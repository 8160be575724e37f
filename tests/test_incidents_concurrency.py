"""Cross-row rules of the incident engine under concurrency, on SQLite and PostgreSQL: several engines, each on its
own database connection, apply alerts of one place at the same moment (threads released by a barrier), several
rounds; afterwards every alert is counted once, one incident is open per type and place, and no count is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial

import pytest
import redis
import sqlalchemy as sa

from ioc.city import City
from ioc.db import Database
from ioc.documents import Alert, AlertKind
from ioc.incidents.engine import IncidentEngine, Rules
from ioc.incidents.model import Limits
from ioc.incidents.tables import IncidentAlertRow, IncidentConditionRow, IncidentRow
from ioc.keys import Domain, Keys
from ioc.settings import Settings

T0 = 1_790_000_000.0
RULES = Rules(flood_alarm=2, congestion_s=900, offline_s=600, violations=5, violations_window_s=600)
ENGINES = 4
JOIN_S = 30.0
# A second engine deleting a condition the first already deleted is a race too (SQLAlchemy warns of it).
pytestmark = pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")


@pytest.fixture
def engines(
    r: redis.Redis, db: Database, keys: Keys, city: City, db_settings: Settings
) -> Iterator[list[IncidentEngine]]:
    """ENGINES engines on the Redis and database under test, each with a database handle (a connection) of its own."""
    handles = [Database(db.url, embedded=db.embedded) for _ in range(ENGINES)]
    made = [
        IncidentEngine(r, handle, keys, city, rules=RULES, limits=Limits.of(db_settings), consumer=f"e{i}")
        for i, handle in enumerate(handles)
    ]
    made[0].setup()
    yield made
    for handle in handles:
        handle.close()


def entry(
    r: redis.Redis, keys: Keys, domain: Domain, kind: AlertKind, place: str, new: str, ts: float
) -> tuple[str, dict[str, str]]:
    """An alert appended as the aggregator would, as an engine reads it: (entry id, fields)."""
    fields = Alert(kind=kind, ts=ts, place=place, old="", new=new, severity="warning", lat=15.57, lon=108.48)
    entry_id = str(r.xadd(keys.alerts(domain), fields.stream_fields()))
    return entry_id, fields.stream_fields()


def together(calls: list[Callable[[], object]]) -> None:
    """Run the calls in threads released at once by a barrier; re-raise the first failure."""
    barrier = threading.Barrier(len(calls))
    failures: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait(JOIN_S)
        try:
            call()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_S)
    assert not any(thread.is_alive() for thread in threads), "an engine did not finish in time"
    if failures:
        raise failures[0]


def incidents_at(db: Database, place: str) -> list[IncidentRow]:
    """The incidents of a place, oldest first."""
    with db.read() as session:
        return list(session.scalars(sa.select(IncidentRow).where(IncidentRow.place == place).order_by(IncidentRow.id)))


def test_a_burst_counted_by_several_engines_at_once_loses_no_violation(
    engines: list[IncidentEngine], r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    for n, camera in enumerate(s.id for s in city.sensors_of("speed_camera")):
        first = entry(r, keys, "traffic", "traffic.violation.detected", camera, "95", T0 + 1000 * n)
        engines[0].process("traffic", [first])  # the burst's condition exists: the racing engines all update it
        racing = [
            entry(r, keys, "traffic", "traffic.violation.detected", camera, "95", T0 + 1000 * n + 1 + i)
            for i in range(ENGINES)
        ]
        together([partial(e.process, "traffic", [x]) for e, x in zip(engines, racing, strict=True)])
        # 1 + 4 violations within the window: exactly the fifth opens the incident, whichever engine applied it
        [incident] = incidents_at(db, camera)
        expected = ("speed_violations", 1 + ENGINES, f"speed_violations:{camera}")
        assert (incident.type, incident.alert_count, incident.open_key) == expected, f"round {n}"
        with db.read() as session:
            assert session.get(IncidentConditionRow, f"speed_violations:{camera}") is None
            linked = session.scalar(sa.select(sa.func.count()).where(IncidentAlertRow.incident_id == incident.id))
        assert linked == 1 + ENGINES


def test_one_place_raised_by_several_engines_at_once_opens_one_incident(
    engines: list[IncidentEngine], r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    for n, station in enumerate(s.id for s in city.sensors_of("water_station")[:4]):
        racing = [
            entry(r, keys, "flood", "flood.level.changed", station, "2", T0 + 1000 * n + i) for i in range(ENGINES)
        ]
        together([partial(e.process, "flood", [x]) for e, x in zip(engines, racing, strict=True)])
        [incident] = incidents_at(db, station)
        assert incident.alert_count == ENGINES, f"round {n}"
        with db.read() as session:
            applied = session.scalar(sa.select(sa.func.count()).where(IncidentAlertRow.incident_id == incident.id))
        assert applied == ENGINES


def test_one_alert_applied_by_several_engines_at_once_counts_once(
    engines: list[IncidentEngine], r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    for n, station in enumerate(s.id for s in city.sensors_of("water_station")[:4]):
        same = entry(r, keys, "flood", "flood.level.changed", station, "2", T0 + 1000 * n)
        together([partial(e.process, "flood", [same]) for e in engines])  # redelivered to all at once
        [incident] = incidents_at(db, station)
        assert incident.alert_count == 1, f"round {n}"


def test_a_lasting_condition_checked_by_several_engines_at_once_opens_once(
    engines: list[IncidentEngine], r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    segments = list(city.segments)[:4]
    for n, segment in enumerate(segments):
        start = T0 + 10_000 * n
        engines[0].process(
            "traffic", [entry(r, keys, "traffic", "traffic.congestion.changed", segment, "congested", start)]
        )
        late = start + RULES.congestion_s + 1
        together([partial(e.check, city_now=late) for e in engines])
        [incident] = incidents_at(db, segment)
        assert (incident.type, incident.alert_count) == ("congestion", 1), f"round {n}"
        with db.read() as session:
            assert session.get(IncidentConditionRow, f"congestion:{segment}") is None
