"""A trainee works an exercise from the incidents page, through its callbacks over HTTP (no browser): the table, the
poll, the detail and every action are the exercise's only, on the exercise's clock (the audit row carries the
exercise and the clock's time, the timeline shows it); a trainee can neither see nor act on a live incident, nor a
live operator on an exercise's (refused: not found); the exercise's scoring then counts the acknowledgement in time,
or late after a jump ahead. A trainee's wall reads the exercise's namespace and incidents; an operator's and a wall
screen's, live. Real Redis and both databases; the exercise's clock is declared directly, standing
still, so times are exact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import redis
from dash import Dash

from benchmarks.browser import AppHttp, BrowserPage, sign_in
from ioc import audit
from ioc.audit import AuditRow
from ioc.city import City
from ioc.clock import declare_simulated
from ioc.db import Database
from ioc.exercises.injects import evidence, send_due
from ioc.exercises.records import change_status, check_spec, start_exercise
from ioc.exercises.scoring import score_responses
from ioc.identity.roles import Role
from ioc.incidents import lifecycle
from ioc.incidents.lifecycle import new_row, record_open
from ioc.incidents.model import Incident
from ioc.incidents.places import place_of
from ioc.keys import Keys
from ioc.rules import Severity
from ioc.settings import Settings
from layouts.incidents import ids
from layouts.wall import ids as wall_ids
from layouts.wall.page import PATH as WALL_PATH
from simulators.scenario import load_scenario
from tests.sessions import PASSWORD, new_account, new_display_token
from tests.test_exercises import base as base  # the fixture: the test's namespace, its exercises' keys removed
from tests.test_incidents_page import LIMITS, Panel, report
from tests.test_msel import T0, at


@pytest.fixture
def app(db: Database, db_settings: Settings, redis_url: str, base: str, make_app: Any) -> Iterator[Dash]:
    """An app from the factory on the database and Redis under test, in the test's namespace."""
    yield make_app(database_url=db_settings.database_url, redis_url=redis_url, namespace=base)


def signed_in_as(app: Dash, name: str) -> Panel:
    """The incidents page (in English) in a tab signed in as this account."""
    http = AppHttp(app)
    sign_in(http, name, PASSWORD)
    return Panel(http, "en")


def set_clock(r: redis.Redis, namespace: str, at_time: datetime) -> None:
    """The exercise's clock standing still at this time (as the runner declares it; a jump ahead moves it on)."""
    declare_simulated(r, Keys(namespace), start=at_time.timestamp(), speed=60.0, source="test", paused=True)


def congestion(db: Database, city: City, exercise: int, opened: datetime, severity: Severity = "warning") -> Incident:
    """The congestion incident the engine opens in the exercise at seg-pct-03 (rush-hour-crash's queue inject)."""
    with db.transaction() as session:
        row = new_row(
            incident_type="congestion",
            source="engine",
            place=place_of(city, "seg-pct-03"),
            severity=severity,
            detected_at=opened,
            opened_by="incident-engine",
            limits=LIMITS,
            city=city,
            key=f"x{exercise}:congestion:seg-pct-03",
            now=opened,
            exercise=exercise,
        )
        record_open(session, row, actor="incident-engine")
        session.flush()
        return lifecycle.to_incident(row)


def marked_with(db: Database, entry_id: int) -> int | None:
    """The exercise an audit row is marked with."""
    with db.read() as session:
        row = session.get(AuditRow, entry_id)
        assert row is not None
        return row.exercise_id


def refused_shown(panel: Panel, incident: Incident) -> str:
    """What the page says when an acknowledgement of this incident is posted as if the detail showed it."""
    panel.page.props[(ids.SHOWN, "data")] = {"id": incident.id, "version": incident.version}
    return panel.act("acknowledge", "seen")


@pytest.mark.parametrize(("ack_minute", "status"), [(88, "on_time"), (95, "late")])
def test_a_trainee_acknowledges_on_the_exercise_clock_and_is_scored(
    app: Dash, db: Database, r: redis.Redis, city: City, base: str, ack_minute: int, status: str
) -> None:
    trainee = new_account(db, Role.OPERATOR)
    operator = new_account(db, Role.OPERATOR)
    msel = load_scenario("rush-hour-crash", city=city).msel
    assert msel is not None
    spec = check_spec(name="team A", scenario="rush-hour-crash", seed=7, speed=60.0, trainees=(trainee.id,))
    exercise = start_exercise(db, r, spec, actor="cli:trainer", base=base)
    namespace = exercise.namespace(base)
    live_incident = report(db, city, "fire", "critical")
    send_due(db, exercise.id, msel, sim_start=T0, now=at(80))  # the queue inject: acknowledge within 5 min
    drilled = congestion(db, city, exercise.id, at(85))
    set_clock(r, namespace, at(85))

    trainee_page = signed_in_as(app, trainee.username)
    assert trainee_page.ids() == [drilled.id]  # the exercise's only: counted back from its clock, not today's
    operator_page = signed_in_as(app, operator.username)
    assert operator_page.ids() == [live_incident.id]  # live only, as before

    # neither sees nor acts on the other's incidents: refused as not found, nothing recorded
    trainee_page.select(live_incident.id)
    assert trainee_page.shows(ids.DETAIL) == "No such incident." and trainee_page.value(ids.SHOWN, "data") is None
    assert refused_shown(trainee_page, live_incident) == "No such incident."
    operator_page.select(drilled.id)
    assert operator_page.shows(ids.DETAIL) == "No such incident."
    assert refused_shown(operator_page, drilled) == "No such incident."
    assert lifecycle.get_incident(db, live_incident.id).status == "new"
    assert lifecycle.get_incident(db, drilled.id, exercise=exercise.id).status == "new"

    # the trainee acknowledges at the exercise's time: on time at 88 min, late after a jump to 95
    set_clock(r, namespace, at(ack_minute))
    trainee_page.select(drilled.id)
    assert trainee_page.value(ids.SHOWN, "data") == {"id": drilled.id, "version": drilled.version}
    said = trainee_page.act("acknowledge", "police on the way")
    assert said == f"Incident #{drilled.id}: acknowledge done (now Acknowledged)."
    (entry,) = audit.entries(db, limit=1, action="incident.acknowledge")
    assert entry.actor == trainee.username and entry.object_id == str(drilled.id)
    assert datetime.fromisoformat((entry.after or {})["clock_at"]) == at(ack_minute)
    assert marked_with(db, entry.id) == exercise.id
    done = lifecycle.get_incident(db, drilled.id, exercise=exercise.id)
    assert done.acknowledged_at == at(ack_minute) and done.updated_at == at(ack_minute)
    steps = lifecycle.timeline(db, drilled.id, exercise=exercise.id)
    assert [(e.action, e.at) for e in steps][-1] == ("incident.acknowledge", at(ack_minute))
    assert lifecycle.timeline(db, drilled.id) == []  # the live timeline holds none of it
    local = at(ack_minute).strftime("%H:%M")
    assert local in trainee_page.shows(ids.DETAIL)  # the timeline in the city's time on the exercise's clock
    # the poll follows the exercise's incidents: the operator's live table stays as it was
    assert operator_page.set(ids.POLL, "n_intervals", 1)[0].status == 204
    assert trainee_page.set(ids.POLL, "n_intervals", 1)[0].status == 200  # the exercise's marker moved
    assert [row["status"] for row in trainee_page.value(ids.TABLE, "rowData")] == ["acknowledged"]
    assert trainee_page.set(ids.POLL, "n_intervals", 2)[0].status == 204

    sent, incidents, actions = evidence(db, exercise.id)
    assert [(a.action, a.at, a.actor) for a in actions] == [("acknowledge", at(ack_minute), trainee.username)]
    scores = {(s.inject, s.index): s for s in score_responses(msel, sent, incidents, actions, at(100))}
    queue = scores[("queue", 0)]
    assert (queue.status, queue.took_s) == (status, (ack_minute - 85) * 60.0)

    # once the exercise stops, the trainee works live again
    change_status(db, r, exercise.id, "stop", actor="cli:trainer", base=base)
    trainee_page.set(ids.POLL, "n_intervals", 3)
    assert trainee_page.ids() == [live_incident.id]


def test_a_trainee_opens_an_incident_by_hand_in_the_exercise(
    app: Dash, db: Database, r: redis.Redis, city: City, base: str
) -> None:
    trainee = new_account(db, Role.OPERATOR)
    spec = check_spec(name="team B", scenario="rush-hour-crash", seed=7, speed=60.0, trainees=(trainee.id,))
    exercise = start_exercise(db, r, spec, actor="cli:trainer", base=base)
    panel = signed_in_as(app, trainee.username)
    sensor = city.sensors_of("water_station")[0]
    panel.set(ids.NEW_MAP, "clickData", {"latlng": {"lat": sensor.lat, "lng": sensor.lon}})
    panel.set(ids.NEW_TYPE, "value", "other")
    panel.set(ids.NEW_DESCRIPTION, "value", "đất sạt lở")
    panel.click(ids.NEW_SUBMIT)
    assert panel.shows(ids.MESSAGE) == "The exercise's clock has not started yet: try again in a moment."
    set_clock(r, exercise.namespace(base), at(74))
    panel.click(ids.NEW_SUBMIT)
    assert panel.shows(ids.MESSAGE).startswith("Incident #")
    panel.set(ids.POLL, "n_intervals", 1)
    (made,) = [lifecycle.get_incident(db, i, exercise=exercise.id) for i in panel.ids()]
    assert (made.exercise_id, made.opened_at, made.opened_by) == (exercise.id, at(74), trainee.username)
    (entry,) = audit.entries(db, limit=1, action="incident.open")
    assert datetime.fromisoformat((entry.after or {})["clock_at"]) == at(74)
    assert marked_with(db, entry.id) == exercise.id


def test_a_trainees_wall_reads_the_exercise_and_everyone_elses_live(
    app: Dash, db: Database, r: redis.Redis, city: City, base: str
) -> None:
    trainee = new_account(db, Role.OPERATOR)
    operator = new_account(db, Role.OPERATOR)
    spec = check_spec(name="team C", scenario="rush-hour-crash", seed=7, speed=60.0, trainees=(trainee.id,))
    exercise = start_exercise(db, r, spec, actor="cli:trainer", base=base)
    set_clock(r, exercise.namespace(base), at(85))
    report(db, city, "fire", "critical")
    congestion(db, city, exercise.id, at(85), "critical")
    walls = {
        "trainee": BrowserPage(app, WALL_PATH, "?lang=en", user=(trainee.username, PASSWORD)),
        "operator": BrowserPage(app, WALL_PATH, "?lang=en", user=(operator.username, PASSWORD)),
        "screen": BrowserPage(app, WALL_PATH, "?lang=en", token=new_display_token(db)[1]),
    }
    for who, wall in walls.items():
        (tick,) = wall.set(wall_ids.INTERVAL, "n_intervals", 1)
        (panel,) = wall.set(wall_ids.INCIDENTS_INTERVAL, "n_intervals", 1)
        assert tick.status == 200 and panel.status == 200, who
        ticked, listed = tick.body.decode(), panel.body.decode()
        if who == "trainee":  # the exercise's declared clock (×60) and its incidents
            assert "SIMULATED ×60" in ticked
            assert "Traffic congestion" in listed and "Fire" not in listed
            assert "just now" in listed  # its age on the exercise's clock (standing where it opened)
            assert wall.props[(wall_ids.CLIENT, "data")]["ns"] == exercise.namespace(base)
        else:  # live: no simulated clock declared there, the live incident only
            assert "wall-sim-badge" not in ticked, who
            assert "Fire" in listed and "Traffic congestion" not in listed, who
            assert wall.props[(wall_ids.CLIENT, "data")]["ns"] == base
    # the exercise stops: the trainee's wall goes back to live, repainted from nothing
    change_status(db, r, exercise.id, "stop", actor="cli:trainer", base=base)
    wall = walls["trainee"]
    (tick,) = wall.set(wall_ids.INTERVAL, "n_intervals", 2)
    assert "wall-sim-badge" not in tick.body.decode() and wall.props[(wall_ids.CLIENT, "data")]["ns"] == base
    (panel,) = wall.set(wall_ids.INCIDENTS_INTERVAL, "n_intervals", 2)
    assert "Fire" in panel.body.decode()
