"""Training exercises: isolation from live and from each other (every key and row listed before and after), the reset
that leaves nothing, the exercise's clock on its incidents, the consumers following a new exercise's namespace, the
runner going on from its saved position after a restart, and the `ioc exercises` round trip; real Redis and both
databases."""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import dropwhile
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import sqlalchemy as sa

from ioc import namespaces
from ioc.audit import AuditRow
from ioc.city import City
from ioc.clock import declare_simulated, read_timebase
from ioc.db import Database
from ioc.errors import NotFound
from ioc.exercises.records import (
    ExerciseRefused,
    change_status,
    check_spec,
    get_exercise,
    reset_exercise,
    start_exercise,
)
from ioc.exercises.tables import ExerciseRow
from ioc.incidents.engine import IncidentEngine, Rules
from ioc.incidents.lifecycle import act, get_incident
from ioc.incidents.model import Limits
from ioc.incidents.queries import Filters, change_marker, list_incidents, open_by_severity, wall_summary
from ioc.incidents.reports import read_incidents
from ioc.keys import DOMAINS, Keys
from ioc.schema import metadata
from ioc.settings import Settings
from simulators.engine import generate
from simulators.exercises import ExerciseRunner
from simulators.scenario import load_scenario
from tests.test_incidents_engine import send, station_id

LIMITS = Limits(
    ack_s={"critical": 300, "warning": 900, "info": 3600}, resolve_s={"critical": 7200, "warning": 28800, "info": 86400}
)


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll until condition() is truthy; its value (fails naming `what` after the timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def keys_of(r: redis.Redis, base: str) -> set[str]:
    """Every key of the base namespace and of its exercises' namespaces."""
    return {str(k) for k in r.scan_iter(match=f"ioc:{{{base}*", count=1000)}


def rows(db: Database) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every table but the exercises' own (and the trainer's audit rows about them), as tuples."""
    found: dict[str, set[tuple[Any, ...]]] = {}
    with db.read() as session:
        for table in metadata.sorted_tables:
            if table.name in ("exercises", "alembic_version"):
                continue
            query = sa.select(table)
            if table.name == "audit_log":
                query = query.where(AuditRow.object_type != "exercise")
            found[table.name] = {tuple(map(repr, row)) for row in session.execute(query)}
    return found


def make_engine(r: redis.Redis, db: Database, city: City, namespace: str, exercise: int | None) -> IncidentEngine:
    engine = IncidentEngine(
        r, db, Keys(namespace), city, rules=Rules(), limits=LIMITS, consumer="test", exercise_id=exercise
    )
    engine.setup()
    return engine


def start(db: Database, r: redis.Redis, base: str, name: str = "drill", speed: float = 60.0) -> Any:
    spec = check_spec(name=name, scenario="normal-day", seed=7, speed=speed)
    return start_exercise(db, r, spec, actor="cli:trainer", base=base)


@pytest.fixture
def base(namespace: str, r: redis.Redis) -> Iterator[str]:
    """The test's namespace as the base; its exercises' keys removed afterwards too."""
    yield namespace
    for key in keys_of(r, namespace):
        r.delete(key)


def test_two_exercises_and_live_never_mix_and_a_reset_leaves_nothing(
    r: redis.Redis, db: Database, city: City, base: str
) -> None:
    station = station_id(city)
    live = make_engine(r, db, city, base, None)
    send(r, Keys(base), "flood", "flood.level.changed", station, "2", old="1")
    live.drain()
    live_keys, live_rows = keys_of(r, base), rows(db)
    live_marker, live_summary = change_marker(db), wall_summary(db)

    first, second = start(db, r, base, "first"), start(db, r, base, "second")
    assert namespaces.active_namespaces(r, base) == {first.namespace(base), second.namespace(base)}
    assert first.namespace(base) == f"{base}-ex{first.id}"
    drill_time = datetime(2022, 10, 11, 5, 0, tzinfo=UTC).timestamp()
    engines = {}
    for exercise in (first, second):
        ns = exercise.namespace(base)
        declare_simulated(r, Keys(ns), start=drill_time, speed=60.0, source="test", paused=True)
        engines[exercise.id] = make_engine(r, db, city, ns, exercise.id)
        # the same station and type as live: each its own open incident
        send(r, Keys(ns), "flood", "flood.level.changed", station, "3", old="2", ts=drill_time, severity="critical")
        segment = next(iter(city.segments))
        send(r, Keys(ns), "traffic", "traffic.congestion.changed", segment, "congested", ts=drill_time)
        engines[exercise.id].drain()
        engines[exercise.id].check()
    [live_incident] = list_incidents(db)
    assert live_incident.exercise_id is None and live_incident.severity == "warning"
    for exercise in (first, second):
        [drilled] = list_incidents(db, Filters(exercise=exercise.id))
        assert (drilled.exercise_id, drilled.place, drilled.severity) == (exercise.id, station, "critical")
        # opened on the exercise's clock (paused at the drill's time), its limits counted from it
        assert drilled.opened_at == datetime.fromtimestamp(drill_time, UTC)
        assert drilled.ack_due_at == drilled.opened_at + timedelta(seconds=300)
        with pytest.raises(NotFound):  # the live pages (and anyone with its id) cannot see or act on it as live
            get_incident(db, drilled.id)
        with pytest.raises(NotFound):
            act(
                db,
                drilled.id,
                "acknowledge",
                actor="x",
                role="operator",
                expected_version=1,
                limits=LIMITS,
                units=(),
                text="x",
            )
        assert get_incident(db, drilled.id, exercise=exercise.id).id == drilled.id
        act(
            db,
            drilled.id,
            "acknowledge",
            actor="trainee",
            role="operator",
            expected_version=drilled.version,
            limits=LIMITS,
            units=(),
            text="on it",
            exercise=exercise.id,
        )
        with db.read() as session:
            marked = session.scalars(
                sa.select(AuditRow).where(AuditRow.object_type == "incident", AuditRow.object_id == str(drilled.id))
            ).all()
        assert {row.exercise_id for row in marked} == {exercise.id} and len(marked) == 2
    # live reads see none of it
    assert change_marker(db) == live_marker and wall_summary(db) == live_summary
    assert open_by_severity(db) == {"info": 0, "warning": 1, "critical": 0}
    assert list(read_incidents(db, Filters())["id"]) == [live_incident.id]
    assert keys_of(r, base) > live_keys

    second_keys = {k for k in keys_of(r, base) if f"{{{second.namespace(base)}." in k}
    second_rows = rows(db)
    reset = reset_exercise(db, r, first.id, actor="cli:trainer", base=base)
    assert (reset.status, reset.position) == ("created", None)
    assert keys_of(r, base) == live_keys | second_keys | {Keys(base).exercises()}  # the other exercise untouched
    assert namespaces.active_namespaces(r, base) == {second.namespace(base)}
    after_first = rows(db)
    for table, found in after_first.items():
        assert found <= second_rows[table]
    assert list_incidents(db, Filters(exercise=first.id)) == []
    assert len(list_incidents(db, Filters(exercise=second.id))) == 1

    change_status(db, r, second.id, "stop", actor="cli:trainer", base=base)
    reset_exercise(db, r, second.id, actor="cli:trainer", base=base)
    assert keys_of(r, base) == live_keys
    assert rows(db) == live_rows
    assert [i.id for i in list_incidents(db)] == [live_incident.id]
    assert namespaces.active_namespaces(r, base) == set()


def test_status_changes_follow_the_rules(r: redis.Redis, db: Database, base: str) -> None:
    exercise = start(db, r, base)
    assert change_status(db, r, exercise.id, "pause", actor="t", base=base).status == "paused"
    assert namespaces.active_namespaces(r, base) == {exercise.namespace(base)}  # followed while paused
    with pytest.raises(ExerciseRefused):
        change_status(db, r, exercise.id, "pause", actor="t", base=base)
    assert change_status(db, r, exercise.id, "resume", actor="t", base=base).status == "running"
    assert change_status(db, r, exercise.id, "stop", actor="t", base=base).status == "stopped"
    assert namespaces.active_namespaces(r, base) == set()
    with pytest.raises(ExerciseRefused):
        change_status(db, r, exercise.id, "resume", actor="t", base=base)
    with db.read() as session:
        actions = session.scalars(sa.select(AuditRow.action).where(AuditRow.object_type == "exercise")).all()
    assert list(actions) == ["exercise.start", "exercise.pause", "exercise.resume", "exercise.stop"]


def test_the_consumers_follow_a_new_exercise_and_let_go_of_a_stopped_one(
    r: redis.Redis, db: Database, db_settings: Settings, city: City, base: str, redis_url: str
) -> None:
    from ioc.aggregator.engine import run_aggregator
    from ioc.incidents.engine import run_engine

    settings = db_settings.model_copy(update={"redis_url": redis_url, "namespace": base})
    thresholds = gc.get_threshold()  # the aggregator tunes the collector for its own process: put back afterwards
    stop = threading.Event()
    threads = [threading.Thread(target=run, args=(settings, stop)) for run in (run_aggregator, run_engine)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: r.exists(Keys(base).heartbeat()), 20, "the live aggregator")
        exercise = start(db, r, base)
        ns = exercise.namespace(base)
        wait_for(lambda: r.exists(Keys(ns).heartbeat()), 20, "the aggregator to follow the exercise")
        wait_for(lambda: r.exists(Keys(ns).incidents_heartbeat()), 20, "the incident engine to follow it")
        for domain in DOMAINS:
            assert {g["name"] for g in r.xinfo_groups(Keys(ns).events(domain))} == {"aggregator"}
        send(r, Keys(ns), "flood", "flood.level.changed", station_id(city), "2", old="1")
        [drilled] = wait_for(lambda: list_incidents(db, Filters(exercise=exercise.id)), 20, "an exercise incident")
        assert drilled.exercise_id == exercise.id
        assert list_incidents(db) == []  # not live's
        change_status(db, r, exercise.id, "stop", actor="t", base=base)
        reset_exercise(db, r, exercise.id, actor="t", base=base)  # waits until both let go
        time.sleep(3)  # more than a refresh: nothing is written back into the wiped namespace
        assert not {k for k in keys_of(r, base) if f"{{{ns}." in k}
        assert list_incidents(db, Filters(exercise=exercise.id)) == []
        assert r.exists(Keys(base).heartbeat())  # live flows on
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_runner_goes_on_from_its_saved_position_after_a_restart(
    r: redis.Redis, db: Database, city: City, base: str
) -> None:
    exercise = start(db, r, base, speed=600.0)
    ns = Keys(exercise.namespace(base))

    def run_for(seconds: float) -> None:
        runner = ExerciseRunner(r, db, city, base=base, save_every_s=0.2)
        stop = threading.Event()
        thread = threading.Thread(target=runner.run_forever, args=(stop, 0.1))
        thread.start()
        time.sleep(seconds)
        stop.set()
        thread.join(30)

    run_for(2.0)
    saved = get_exercise(db, exercise.id)
    assert saved.sim_start is not None and saved.position is not None and saved.position > saved.sim_start
    counts = {domain: r.xlen(ns.events(domain)) for domain in DOMAINS}
    assert sum(counts.values()) > 0
    run_for(1.5)
    again = get_exercise(db, exercise.id)
    assert again.sim_start == saved.sim_start and again.position is not None and again.position > saved.position
    # the restarted runner went on: the first event it wrote is the first one of the same run at the saved position
    scenario = load_scenario("normal-day", city=city)
    begin = datetime.fromtimestamp(saved.sim_start, ZoneInfo(city.timezone))
    position = saved.position
    expected = next(dropwhile(lambda e: e.at < position, generate(city, scenario, 7, begin)))
    _, fields = r.xrange(ns.events(expected.domain))[counts[expected.domain]]
    assert fields == expected.fields
    # paused: the runner stops and the exercise's clock stands still where it got to
    change_status(db, r, exercise.id, "pause", actor="t", base=base)
    run_for(0.5)
    clock = read_timebase(r, ns)
    assert clock.paused and clock.now() == pytest.approx(get_exercise(db, exercise.id).position, abs=0.01)
    with db.read() as session:
        assert session.get(ExerciseRow, exercise.id) is not None


def test_exercises_command_round_trip(
    r: redis.Redis,
    db_env: dict[str, str],
    db: Database,
    base: str,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cli.main import main

    for name, value in {**db_env, "IOC_REDIS_URL": redis_url, "IOC_NAMESPACE": base}.items():
        monkeypatch.setenv(name, value)

    def ioc(*argv: str) -> Any:
        capsys.readouterr()
        assert main(list(argv)) == 0
        return json.loads(capsys.readouterr().out)

    made = ioc("exercises", "start", "normal-day", "--speed", "60", "--seed", "3", "--name", "Diễn tập", "--json")
    assert (made["status"], made["scenario"], made["speed"], made["seed"]) == ("running", "normal-day", 60.0, 3)
    assert made["name"] == "Diễn tập" and made["namespace"] == f"{base}-ex{made['id']}"
    assert [e["id"] for e in ioc("exercises", "list", "--json")] == [made["id"]]
    assert ioc("exercises", "pause", str(made["id"]), "--json")["status"] == "paused"
    assert ioc("exercises", "resume", str(made["id"]), "--json")["status"] == "running"
    assert ioc("exercises", "stop", str(made["id"]), "--json")["status"] == "stopped"
    assert ioc("incidents", "list", "--exercise", str(made["id"]), "--json") == []
    assert ioc("exercises", "reset", str(made["id"]), "--json")["status"] == "created"
    assert main(["exercises", "pause", "999"]) == 1  # no such exercise
    assert main(["exercises", "start", "no-such-scenario"]) == 2
    assert main(["exercises", "start", "normal-day", "--trainee", "nobody"]) == 2
    with pytest.raises(SystemExit) as refused:
        main(["exercises", "start", "normal-day", "--speed", "3601"])
    assert refused.value.code == 2
    assert main(["exercises", "start", "normal-day", "--speed", "3600", "--name", "a\u202eb"]) == 2  # bidi override
