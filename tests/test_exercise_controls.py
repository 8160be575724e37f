"""A trainer's controls of an exercise in the core, and the runner following them: create then start, a change of
speed, a jump ahead (the clock moves on and the runner plays on from there), a message sent by hand, who trains in
what, and what the runner writes for the trainer's page; real Redis and both databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
import sqlalchemy as sa

from ioc.audit import AuditRow
from ioc.city import City
from ioc.clock import read_timebase
from ioc.db import Database
from ioc.errors import InvalidInput
from ioc.exercises.injects import send_by_hand, sent_injects
from ioc.exercises.progress import read_progress, read_scenarios
from ioc.exercises.records import (
    ExerciseRefused,
    ManualInject,
    change_status,
    check_spec,
    create_exercise,
    get_exercise,
    jump_ahead,
    reset_exercise,
    save_position,
    set_speed,
    trainee_exercise,
)
from ioc.exercises.report import after_action_report
from ioc.keys import Keys
from simulators.exercises import ExerciseRunner
from simulators.scenario import load_scenario
from tests.test_exercises import base as base  # the fixture: the test's namespace, its exercises' keys removed
from tests.test_exercises import wait_for


@contextmanager
def running_runner(r: redis.Redis, db: Database, city: City, base: str) -> Iterator[ExerciseRunner]:
    """An exercise runner checking every 0.1 s in a thread while the block runs."""
    runner = ExerciseRunner(r, db, city, base=base, save_every_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop, 0.1))
    thread.start()
    try:
        yield runner
    finally:
        stop.set()
        thread.join(30)


def actions(db: Database, exercise_id: int) -> list[str]:
    """The trainer's audit actions on an exercise, in order."""
    with db.read() as session:
        query = sa.select(AuditRow.action).where(
            AuditRow.object_type == "exercise", AuditRow.object_id == str(exercise_id)
        )
        return list(session.scalars(query.order_by(AuditRow.id)))


def test_create_waits_then_start_speed_and_jump_are_followed_by_the_runner(
    r: redis.Redis, db: Database, city: City, base: str
) -> None:
    spec = check_spec(name="drill", scenario="flood-oct-2022", seed=3, speed=60.0, trainees=(5, 6))
    exercise = create_exercise(db, spec, actor="trainer")
    assert exercise.status == "created" and exercise.started_at is None
    ns = Keys(exercise.namespace(base))
    with running_runner(r, db, city, base) as runner:
        assert trainee_exercise(db, 5) is None  # created: nobody trains in it yet
        with pytest.raises(ExerciseRefused):
            jump_ahead(db, r, exercise.id, 10, actor="trainer", base=base)  # never played
        change_status(db, r, exercise.id, "start", actor="trainer", base=base)
        assert trainee_exercise(db, 5) == trainee_exercise(db, 6) and trainee_exercise(db, 7) is None
        wait_for(lambda: read_timebase(r, ns).simulated, 10, "the exercise's clock")
        assert read_timebase(r, ns).speed == 60.0
        catalogue = {s.name: s for s in wait_for(lambda: read_scenarios(r, Keys(base)), 10, "the scenario list")}
        assert catalogue["flood-oct-2022"].msel and "normal-day" in catalogue
        progress = wait_for(lambda: read_progress(r, ns), 10, "the exercise's progress")
        assert progress.exercise_id == exercise.id and progress.responses  # the flood MSEL expects responses
        assert {item["status"] for item in progress.responses} <= {"not_sent", "pending", "missed", "on_time", "late"}
        # a first run of its scenario (no kept results to borrow names from): the report names the objectives
        msel = load_scenario("flood-oct-2022").msel
        assert msel is not None
        names = {o.id: (o.name.vi, o.name.en) for o in msel.objectives}
        assert progress.objectives == names
        report = after_action_report(db, exercise.id, client=r, base=base)
        assert report.source == "progress" and report.objectives
        assert {(o.objective, o.name_vi, o.name_en) for o in report.objectives} <= {(k, *v) for k, v in names.items()}
        assert all(o.name_en != o.objective for o in report.objectives)

        set_speed(db, exercise.id, 30, actor="trainer")
        wait_for(lambda: read_timebase(r, ns).speed == 30.0, 10, "the runner at the new speed")
        assert exercise.id in runner.plays and runner.plays[exercise.id].exercise.speed == 30.0
        with pytest.raises(InvalidInput):
            set_speed(db, exercise.id, 61, actor="trainer", most=60)  # the page's bound
        with pytest.raises(InvalidInput):
            set_speed(db, exercise.id, 0, actor="trainer")

        before = read_timebase(r, ns).now()
        jumped = jump_ahead(db, r, exercise.id, 45, actor="trainer", base=base)
        target = jumped.position
        assert target is not None and target >= before + 45 * 60
        wait_for(lambda: read_timebase(r, ns).now() >= target, 10, "the clock jumped ahead")
        wait_for(lambda: runner.plays[exercise.id].position >= target, 10, "the runner playing on")
        # the runner's own save never takes the jump back
        assert not save_position(db, 10**6, sim_start=0.0, position=0.0)
        save_position(db, exercise.id, sim_start=jumped.sim_start or 0.0, position=before)
        assert (get_exercise(db, exercise.id).position or 0) >= target
        with pytest.raises(InvalidInput):
            jump_ahead(db, r, exercise.id, 0, actor="trainer", base=base)

        sent = send_by_hand(
            db,
            r,
            exercise.id,
            ManualInject(sender="Ban Chỉ huy", recipient="IOC Tam Kỳ", text="Kiểm tra trạm Tam Kỳ"),
            actor="trainer",
            base=base,
        )
        assert sent.sent_at.timestamp() >= target  # on the exercise's clock
        kept = sent_injects(db, exercise.id)
        assert any(s.inject == sent.inject and s.text_vi == "Kiểm tra trạm Tam Kỳ" for s in kept)

        change_status(db, r, exercise.id, "pause", actor="trainer", base=base)
        wait_for(lambda: read_timebase(r, ns).paused, 10, "the clock held")
        assert trainee_exercise(db, 5) is not None  # paused: still in it, the banner stays
        set_speed(db, exercise.id, 10, actor="trainer")  # allowed while paused, played at it on resuming
        reset_exercise(db, r, exercise.id, actor="trainer", base=base)
    assert read_progress(r, ns) is None and sent_injects(db, exercise.id) == []
    assert trainee_exercise(db, 5) is None
    with pytest.raises(ExerciseRefused):
        send_by_hand(db, r, exercise.id, ManualInject(sender="a", recipient="b", text="c"), actor="t", base=base)
    assert actions(db, exercise.id) == [
        "exercise.create",
        "exercise.start",
        "exercise.speed",
        "exercise.jump",
        "exercise.inject",
        "exercise.pause",
        "exercise.speed",
        "exercise.reset",
    ]
    change_status(db, r, exercise.id, "stop", actor="trainer", base=base)
    with pytest.raises(ExerciseRefused):
        set_speed(db, exercise.id, 5, actor="trainer")


def test_a_manual_message_is_checked_by_the_input_rule() -> None:
    with pytest.raises(ValueError):
        ManualInject(sender="a", recipient="b", text="bad \u202e text")
    with pytest.raises(ValueError):
        ManualInject(sender="", recipient="b", text="c")
    assert ManualInject(sender=" a ", recipient="b", text="line one\r\nline two").text == "line one\nline two"
