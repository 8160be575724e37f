"""The MSEL of training exercises: a malformed one refused with its file and line; the shipped drills; injects sent on
the exercise's clock, once each, contingencies only when a response is late; the scoring of a scripted response with
known times (on time, late, missed; HSEEP's ratings); isolation of messages and results between exercises and from
live; a restarted runner never sending an inject twice. Real Redis and both databases; the exercise's clock is
driven directly (seconds, not minutes)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import sqlalchemy as sa

from ioc.city import City
from ioc.db import Database
from ioc.exercises.injects import evidence, keep_results, kept_results, send_due, sent_injects
from ioc.exercises.records import change_status, check_spec, reset_exercise, start_exercise
from ioc.exercises.scoring import rate, score_objectives, score_responses
from ioc.exercises.tables import ExerciseInjectRow
from ioc.incidents.lifecycle import act, new_row, open_by_hand, record_open
from ioc.incidents.model import Limits
from ioc.incidents.places import place_of
from simulators.errors import ScenarioError
from simulators.exercises import ExerciseRunner
from simulators.scenario import check_file, load_scenario
from tests.test_exercises import keys_of

LIMITS = Limits(
    ack_s={"critical": 300, "warning": 900, "info": 3600}, resolve_s={"critical": 7200, "warning": 28800, "info": 86400}
)
UNITS = ("police-113", "fire-114", "ambulance-115", "public-works", "flood-response")
T0 = datetime(2026, 1, 5, 6, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # rush-hour-crash's start
SCENARIOS = Path(__file__).parent.parent / "simulators/scenarios"

GOOD_INJECT = """\
msel:
  objectives:
    - {id: warn, name: {vi: Cảnh báo, en: Warning}}
  injects:
"""


@pytest.mark.parametrize(
    ("injects", "expected"),
    [
        (
            "    - {id: a, at_min: 5, objective: nope, from: X, to: Y, text: {vi: a, en: b},\n"
            "       expected: [{action: acknowledge, incident_type: flood, within_min: 5}]}\n",
            r"bad\.yaml:6: msel\.injects\[0\]\.objective: unknown objective 'nope'",
        ),
        (
            "    - id: a\n      at_min: 5\n      episode: no-such-episode\n",
            r"bad\.yaml:8: msel\.injects\[0\]\.episode: unknown episode 'no-such-episode'",
        ),
        (
            "    - id: a\n      at_min: 5\n      from: X\n      to: Y\n      text: {vi: a, en: b}\n"
            "      episode: crash-pct\n",
            r"bad\.yaml:6: msel\.injects\[0\]: an inject is a message .* or an event",
        ),
        (
            "    - id: a\n      at_min: 5\n      from: X\n      to: Y\n      text: {vi: a, en: b}\n"
            "      expected:\n        - {action: acknowledge, incident_type: flood, within_min: -1}\n",
            r"bad\.yaml:12: msel\.injects\[0\]\.expected\[0\]\.within_min",
        ),
        (
            "    - id: a\n      at_min: 5\n      from: X\n      to: Y\n      text: {vi: a, en: b}\n"
            "      expected:\n        - {action: wave, incident_type: flood, within_min: 5}\n",
            r"bad\.yaml:12: msel\.injects\[0\]\.expected\[0\]\.action",
        ),
        (
            "    - id: a\n      at_min: 5\n      objective: warn\n      from: X\n      to: Y\n"
            "      text: {vi: a, en: b}\n      expected:\n"
            "        - {action: acknowledge, incident_type: flood, place: wl-nowhere, within_min: 5}\n",
            r"bad\.yaml:13: msel\.injects\[0\]\.expected\[0\]\.place: unknown place 'wl-nowhere'",
        ),
        (
            "    - id: a\n      at_min: 5\n      from: X\n      to: Y\n      text: {vi: a, en: b}\n"
            "      contingency: {id: b, from: X, to: Y, text: {vi: a, en: b}}\n",
            r"bad\.yaml:6: msel\.injects\[0\]: a contingency is sent when an expected response is late",
        ),
        (
            "    - {id: a, at_min: 5, episode: {kind: crash, segment: seg-nowhere, duration_min: 10}}\n",
            r"bad\.yaml:6: msel\.injects\[0\]\.episode\.segment: unknown road segment 'seg-nowhere'",
        ),
    ],
    ids=[
        "unknown-objective",
        "unknown-episode",
        "message-and-episode",
        "negative-target",
        "unknown-action",
        "unknown-place",
        "contingency-without-expected",
        "bad-inline-episode",
    ],
)
def test_a_malformed_msel_is_refused_with_its_file_and_line(
    city: City, tmp_path: Path, injects: str, expected: str
) -> None:
    for name in ("normal-day", "rush-hour-crash"):
        (tmp_path / f"{name}.yaml").write_text((SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8"), "utf-8")
    (tmp_path / "bad.yaml").write_text("extends: rush-hour-crash\n" + GOOD_INJECT + injects, encoding="utf-8")
    with pytest.raises(ScenarioError, match=expected):
        check_file(tmp_path / "bad.yaml", city)


def test_an_inline_episode_is_played_from_its_inject(city: City, tmp_path: Path) -> None:
    (tmp_path / "normal-day.yaml").write_text((SCENARIOS / "normal-day.yaml").read_text(encoding="utf-8"), "utf-8")
    (tmp_path / "drill.yaml").write_text(
        "extends: normal-day\ntitle: Drill\n"
        + GOOD_INJECT
        + "    - {id: slip, at_min: 30, episode: {kind: crash, id: slip, segment: seg-pct-03, duration_min: 10}}\n",
        encoding="utf-8",
    )
    scenario = check_file(tmp_path / "drill.yaml", city)
    [episode] = scenario.episodes
    assert (episode.kind, episode.at_min, episode.id) == ("crash", 30, "slip")
    assert scenario.msel is not None and scenario.msel.injects[0].episode_ref() == "slip"


def test_the_two_drills_have_their_msel(city: City) -> None:
    flood = load_scenario("flood-oct-2022", city=city).msel
    crash = load_scenario("rush-hour-crash", city=city).msel
    assert flood is not None and crash is not None
    tam_ky = next(i for i in flood.injects if i.id == "tam-ky-bd2")
    assert [(e.action, e.place, e.unit) for e in tam_ky.expected] == [
        ("acknowledge", "wl-tam-ky", None),
        ("dispatch", "wl-tam-ky", "flood-response"),
    ]
    assert tam_ky.contingency is not None and "PCTT" in tam_ky.contingency.sender
    units = {e.unit for i in crash.injects for e in i.expected if e.action == "dispatch"}
    assert units == {"police-113", "ambulance-115"}


def test_rating_rule() -> None:
    assert rate(["on_time", "on_time"]) == "P"
    assert rate(["on_time", "late"]) == "S"
    assert rate(["on_time", "missed"]) == "M"
    assert rate(["late", "missed", "missed"]) == "M"
    assert rate(["missed", "missed"]) == "U"
    assert rate(["pending", "not_sent"]) is None
    assert rate(["on_time", "pending"]) == "P"


@pytest.fixture
def base(namespace: str, r: redis.Redis) -> Iterator[str]:
    yield namespace
    for key in keys_of(r, namespace):
        r.delete(key)


def _start(db: Database, r: redis.Redis, base: str, name: str) -> Any:
    spec = check_spec(name=name, scenario="rush-hour-crash", seed=7, speed=60.0)
    return start_exercise(db, r, spec, actor="cli:trainer", base=base)


def at(minutes: float, seconds: float = 0.0) -> datetime:
    """A time on the exercise's clock: minutes (and seconds) after the scenario's start."""
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def test_scripted_response_scored_with_known_times(
    r: redis.Redis, db: Database, city: City, base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    msel = load_scenario("rush-hour-crash", city=city).msel
    assert msel is not None
    exercise = _start(db, r, base, "team A")
    other = _start(db, r, base, "team B")

    def send(minutes: float, seconds: float = 0.0) -> list[str]:
        return [s.inject for s in send_due(db, exercise.id, msel, sim_start=T0, now=at(minutes, seconds))]

    def do(incident: Any, action: str, minutes: float, seconds: float = 0.0, **extra: Any) -> Any:
        return act(
            db,
            incident.id,
            action,
            actor="ana",
            role="operator",
            expected_version=incident.version,
            limits=LIMITS,
            units=UNITS,
            text=extra.pop("text", "ok"),
            now=at(minutes, seconds),
            exercise=incident.exercise_id,
            **extra,
        )

    assert send(69, 59) == []
    assert send(70) == ["crash"]
    assert send(71) == []
    assert send(72) == ["crash-call"]
    assert send(72) == []  # once each
    # casualties: opened by hand in 2 min (target 5), acknowledged after 9 min (target 8), never dispatched (10)
    crash_place = place_of(city, "seg-pct-03")
    lat, lon = crash_place.lat, crash_place.lon
    accident = open_by_hand(
        db,
        city=city,
        limits=LIMITS,
        actor="ana",
        role="operator",
        incident_type="traffic_accident",
        lat=lat,
        lon=lon,
        description="xe tải va chạm xe máy",
        exercise=exercise.id,
        now=at(74),
    )
    assert accident.exercise_id == exercise.id and accident.opened_at == at(74)
    do(accident, "acknowledge", 83)
    # traffic: the engine opens the congestion incident at 85 min, after the inject (80): its clock starts then
    assert send(80) == ["queue"]
    with db.transaction() as session:
        row = new_row(
            incident_type="congestion",
            source="engine",
            place=place_of(city, "seg-pct-03"),
            severity="warning",
            detected_at=at(70),
            opened_by="incident-engine",
            limits=LIMITS,
            city=city,
            key=f"x{exercise.id}:congestion:seg-pct-03",
            now=at(85),
            exercise=exercise.id,
        )
        record_open(session, row, actor="incident-engine")
        congestion_id = row.id
    congestion = do(evidence(db, exercise.id)[1][1], "acknowledge", 88)
    assert congestion.id == congestion_id
    assert send(94, 59) == []  # the dispatch is due at 95: no contingency yet
    assert send(95, 1) == ["queue-reminder"]  # late: the reminder, only now
    assert send(96) == []
    do(congestion, "dispatch", 97, unit="police-113")

    sent, incidents, actions = evidence(db, exercise.id)
    responses = {(s.inject, s.index): s for s in score_responses(msel, sent, incidents, actions, at(100))}
    assert [(s.status, s.took_s) for s in responses.values()] == [
        ("on_time", 120.0),  # opened by hand 2 min after the call (target 5)
        ("late", 540.0),  # acknowledged 9 min after it opened (target 8)
        ("missed", None),  # never dispatched to ambulance-115 (target 10)
        ("on_time", 180.0),  # congestion acknowledged 3 min after it opened (target 5)
        ("late", 720.0),  # dispatched to police-113 12 min after it opened (target 10)
    ]
    assert responses[("queue", 0)].start_at == at(85) and responses[("crash-call", 0)].start_at == at(72)
    ratings = {o.objective: o.rating for o in score_objectives(msel, list(responses.values()))}
    assert ratings == {"casualties": "M", "traffic": "S"}

    kept = keep_results(db, exercise.id, msel, at(100), actor="cli:trainer")
    assert [(o.objective, o.rating) for o in kept] == [("casualties", "M"), ("traffic", "S")]
    keep_results(db, exercise.id, msel, at(100), actor="cli:trainer")  # stopped again: replaced, not doubled
    assert [(k["objective"], k["rating"], k["on_time"], k["late"], k["missed"]) for k in kept_results(db)] == [
        ("casualties", "M", 1, 1, 1),
        ("traffic", "S", 1, 1, 0),
    ]
    # the other exercise and live see none of it
    assert sent_injects(db, other.id) == [] and kept_results(db, [other.id]) == []
    assert evidence(db, other.id) == ([], [], [])
    with db.read() as session:
        assert set(session.scalars(sa.select(ExerciseInjectRow.exercise_id))) == {exercise.id}
    assert [m.inject for m in sent_injects(db, exercise.id, messages_only=True)] == [
        "crash-call",
        "queue",
        "queue-reminder",
    ]
    assert {s.inject: s.sent_at for s in sent_injects(db, exercise.id)}["queue-reminder"] == at(95, 1)

    # a reset removes the exercise's injects and results, and only its own
    send_due(db, other.id, msel, sim_start=T0, now=at(75))
    change_status(db, r, exercise.id, "stop", actor="t", base=base)
    reset_exercise(db, r, exercise.id, actor="t", base=base)
    assert sent_injects(db, exercise.id) == [] and kept_results(db) == []
    assert [s.inject for s in sent_injects(db, other.id)] == ["crash", "crash-call"]


def test_messages_and_report_commands(
    r: redis.Redis,
    db_env: dict[str, str],
    db: Database,
    city: City,
    base: str,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cli.main import main

    for name, value in {**db_env, "IOC_REDIS_URL": redis_url, "IOC_NAMESPACE": base}.items():
        monkeypatch.setenv(name, value)
    msel = load_scenario("rush-hour-crash", city=city).msel
    assert msel is not None
    exercise = _start(db, r, base, "team A")
    send_due(db, exercise.id, msel, sim_start=T0, now=at(90))

    def ioc(*argv: str) -> Any:
        capsys.readouterr()
        assert main(list(argv)) == 0
        return json.loads(capsys.readouterr().out)

    messages = ioc("exercises", "messages", str(exercise.id), "--json")
    assert [(m["inject"], m["kind"]) for m in messages] == [("crash-call", "message"), ("queue", "message")]
    assert messages[0]["from"].startswith("Tổng đài 113") and "Phan Châu Trinh" in messages[0]["text_vi"]
    report = ioc("exercises", "report", str(exercise.id), "--json")
    assert [line["kind"] for line in report["timeline"]] == ["inject", "inject", "inject"]
    assert [o["objective"] for o in report["objectives"]] == ["casualties", "traffic"]
    assert main(["exercises", "report", str(exercise.id)]) == 0
    assert "casualties" in capsys.readouterr().out
    assert main(["exercises", "messages", "999"]) == 1


def test_a_restarted_runner_never_sends_an_inject_twice(r: redis.Redis, db: Database, city: City, base: str) -> None:
    # at x3600 the drill's 80 minutes of injects come in 1.3 s; the runner is stopped and started again across them
    spec = check_spec(name="restart", scenario="rush-hour-crash", seed=7, speed=3600.0)
    exercise = start_exercise(db, r, spec, actor="cli:trainer", base=base)

    def run_for(seconds: float) -> None:
        runner = ExerciseRunner(r, db, city, base=base, save_every_s=0.2)
        stop = threading.Event()
        thread = threading.Thread(target=runner.run_forever, args=(stop, 0.05))
        thread.start()
        time.sleep(seconds)
        stop.set()
        thread.join(30)

    for _ in range(3):
        run_for(0.8)
    # On a busy machine a runner's start-up can take 0.8 s and more, so the rest is played in longer and longer runs
    # (still restarted each time) until every inject came or three minutes passed.
    deadline, seconds = time.monotonic() + 180, 2.0
    while len(sent_injects(db, exercise.id)) < 4 and time.monotonic() < deadline:
        run_for(seconds)
        seconds = min(seconds * 2, 16.0)
    with db.read() as session:
        query = sa.select(ExerciseInjectRow.inject).where(ExerciseInjectRow.exercise_id == exercise.id)
        sent = list(session.scalars(query))
    # each once; nobody handled the jam (no incident engine here), so its reminder came too, once
    assert sorted(sent) == ["crash", "crash-call", "queue", "queue-reminder"]


def test_an_exercise_stopped_while_not_playing_keeps_its_results(
    r: redis.Redis, db: Database, city: City, base: str
) -> None:
    # Paused (the runner lets go of it), then resumed and stopped before the runner looked again: no play ends for
    # it, and its results were once never kept (seen in the browser drill on a busy machine).
    spec = check_spec(name="stopped while paused", scenario="rush-hour-crash", seed=7, speed=60.0)
    exercise = start_exercise(db, r, spec, actor="t", base=base)
    runner = ExerciseRunner(r, db, city, base=base, save_every_s=0.1)
    try:
        runner.check()  # playing
        time.sleep(0.3)
        change_status(db, r, exercise.id, "pause", actor="t", base=base)
        runner.check()  # let go of, its position saved
        change_status(db, r, exercise.id, "resume", actor="t", base=base)
        change_status(db, r, exercise.id, "stop", actor="t", base=base)
        assert kept_results(db, [exercise.id]) == []
        runner.check()
    finally:
        for play in list(runner.plays.values()):
            play.stop.set()
            if play.thread is not None:
                play.thread.join(30)
    kept = kept_results(db, [exercise.id])
    assert sorted({row["objective"] for row in kept}) == ["casualties", "traffic"], kept
    assert all(row["missed"] == 0 for row in kept), kept  # 18 simulated seconds: nothing was due yet
