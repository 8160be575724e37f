"""A trainer's events placed on the map of a running exercise, in the core: what a point hits (the nearest segment,
station or device), the refusals at the boundary (a point outside the city, a bad coordinate or kind, an exercise that
is not playing), and the runner playing the event into that exercise's namespace only: two exercises of the same
scenario and seed side by side, a crash, a device gone dark and a flood point placed in one of them, the other's
events and live's untouched; the inject listed for the trainer, audited as theirs, and kept from the trainees' banner.
Real Redis (both) and both databases."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from ioc.audit import AuditRow
from ioc.city import City
from ioc.clock import read_timebase
from ioc.db import Database
from ioc.errors import InvalidInput
from ioc.exercises import trainer
from ioc.exercises.injects import sent_injects
from ioc.exercises.map_injects import map_events, place_event, send_map_inject
from ioc.exercises.records import (
    ExerciseRefused,
    change_status,
    check_spec,
    create_exercise,
    start_exercise,
)
from ioc.keys import DOMAINS, Keys
from simulators.exercises import map_episode
from tests.test_exercise_controls import running_runner
from tests.test_exercises import base as base  # the fixture: the test's namespace, its exercises' keys removed
from tests.test_exercises import wait_for

SPEED = 600.0  # ten minutes of scenario a second


def observed_segment(city: City) -> tuple[str, tuple[float, float]]:
    """A segment a traffic camera observes and a point whose nearest segment it is."""
    for camera in city.sensors_of("traffic_camera"):
        for segment in camera.segments:
            point = city.segments[segment].midpoint
            if place_event(city, "crash", *point, at_min=0).segments == (segment,):
                return segment, point
    raise AssertionError("no camera observes a segment that is nearest its own midpoint")


def entries(r: redis.Redis, keys: Keys, domain: str) -> list[dict[str, str]]:
    """Every entry of a namespace's raw stream, fields decoded."""
    return [
        {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v for k, v in f.items()}
        for _, f in r.xrange(keys.events(domain))  # type: ignore[arg-type]
    ]


def at(fields: dict[str, str]) -> float:
    return datetime.fromisoformat(fields["ts"]).timestamp()


def test_a_point_hits_the_nearest_segment_station_or_device(city: City) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    fault = place_event(city, "device_fault", camera.lat, camera.lon, at_min=12)
    assert (fault.device, fault.at_min, fault.segments) == (camera.id, 12, ())
    station = next(s for s in city.sensors_of("water_station") if s.alarm_levels_m)
    flood = place_event(city, "flood", station.lat + 0.0005, station.lon, at_min=0)
    assert flood.station == station.id and 1 <= len(flood.segments) <= 3
    segment, point = observed_segment(city)
    assert place_event(city, "crash", *point, at_min=0).segments == (segment,)
    # the episodes they play are valid for the city, beginning at the inject's minute
    for event in (fault, flood):
        episode = map_episode(event, city)
        assert episode.at_min == event.at_min and episode.duration_min == event.duration_min
    assert "Flood" in flood.describe(city, "en") and "Lũ" in flood.describe(city, "vi")


def test_the_boundary_refuses_bad_points_and_kinds(city: City) -> None:
    (south, west), _ = city.bbox
    with pytest.raises(InvalidInput, match="outside the city"):
        place_event(city, "crash", south - 0.01, west + 0.01, at_min=0)
    for lat, lon in (("15.5", 108.5), (True, 108.5), (math.nan, 108.5), (15.5, math.inf), (91, 108.5)):
        with pytest.raises(InvalidInput, match=r"lat|lon"):
            trainer.parse(trainer.MapInjectForm, exercise=1, kind="crash", lat=lat, lon=lon)
    with pytest.raises(InvalidInput, match="kind"):
        trainer.parse(trainer.MapInjectForm, exercise=1, kind="fire", lat=15.55, lon=108.5)
    with pytest.raises(InvalidInput, match="exercise"):
        trainer.parse(trainer.MapInjectForm, exercise=None, kind="crash", lat=15.55, lon=108.5)
    form = trainer.parse(trainer.MapInjectForm, exercise=2, kind="flood", lat=15, lon=108)
    assert (form.lat, form.lon) == (15.0, 108.0) and isinstance(form.lat, float)


def test_an_exercise_not_playing_refuses_an_event_and_a_point_outside_is_refused_first(
    r: redis.Redis, db: Database, city: City, base: str
) -> None:
    exercise = create_exercise(db, check_spec(name="d", scenario="normal-day", seed=1, speed=60.0), actor="trainer")
    lat, lon = city.center
    with pytest.raises(ExerciseRefused, match="created"):
        send_map_inject(db, r, city, exercise.id, "crash", lat, lon, actor="trainer", base=base)
    with pytest.raises(InvalidInput, match="outside the city"):
        send_map_inject(db, r, city, exercise.id, "crash", 10.0, 100.0, actor="trainer", base=base)
    change_status(db, r, exercise.id, "stop", actor="trainer", base=base)
    with pytest.raises(ExerciseRefused, match="stopped"):
        send_map_inject(db, r, city, exercise.id, "device_fault", lat, lon, actor="trainer", base=base)
    assert sent_injects(db, exercise.id) == [] and map_events(db, exercise.id) == ()


def test_events_placed_on_the_map_land_in_that_exercise_only(
    r: redis.Redis, db: Database, city: City, base: str
) -> None:
    segment, point = observed_segment(city)
    camera = next(c for c in city.sensors_of("traffic_camera") if segment not in c.segments)
    station = next(s for s in city.sensors_of("water_station") if s.alarm_levels_m)
    assert station.alarm_levels_m is not None
    spec = check_spec(name="drill", scenario="normal-day", seed=7, speed=SPEED, trainees=(41,))
    drilled = start_exercise(db, r, spec, actor="trainer", base=base)
    twin = start_exercise(db, r, spec.model_copy(update={"trainees": (42,)}), actor="trainer", base=base)
    keys, twin_keys = Keys(drilled.namespace(base)), Keys(twin.namespace(base))
    with running_runner(r, db, city, base):
        wait_for(lambda: read_timebase(r, keys).simulated, 10, "the exercise's clock")
        started = read_timebase(r, keys).now()
        wait_for(lambda: read_timebase(r, keys).now() > started + 20 * 60, 10, "20 minutes of the scenario")
        crash = send_map_inject(db, r, city, drilled.id, "crash", *point, actor="trainer-a", base=base)
        dark = send_map_inject(db, r, city, drilled.id, "device_fault", camera.lat, camera.lon, actor="t", base=base)
        flood = send_map_inject(db, r, city, drilled.id, "flood", station.lat, station.lon, actor="t", base=base)
        sent = [crash.sent_at.timestamp(), dark.sent_at.timestamp(), flood.sent_at.timestamp()]
        # at x600 the three may be minutes apart on the exercise's clock (a busy machine): before the first, after
        # the last
        first, began = min(sent), max(sent)
        wait_for(lambda: read_timebase(r, keys).now() > began + 50 * 60, 30, "50 minutes of scenario after the inject")
        wait_for(lambda: read_timebase(r, twin_keys).now() > began + 50 * 60, 30, "the twin as far")
    window = (began + 5 * 60, began + 40 * 60)  # the crash's queue built, the device still dark

    def speeds(traffic: list[dict[str, str]], low: float, high: float) -> list[float]:
        return [float(f["speed_kmh"]) for f in traffic if f.get("segment") == segment and low <= at(f) < high]

    def reports(traffic: list[dict[str, str]], low: float, high: float) -> int:
        return sum(1 for f in traffic if f.get("sensor") == camera.id and low <= at(f) < high)

    mine, theirs = entries(r, keys, "traffic"), entries(r, twin_keys, "traffic")
    crashed, usual = speeds(mine, *window), speeds(theirs, *window)
    assert crashed and usual and max(crashed) < 0.5 * min(usual), (crashed, usual)
    assert reports(mine, *window) == 0 and reports(theirs, *window) > 10  # dark in the drill only
    before = (first - 15 * 60, first - 60)
    assert reports(mine, *before) == reports(theirs, *before) > 0  # the same city until the inject
    assert speeds(mine, *before) == speeds(theirs, *before)

    # the station near the flood point rises above BĐ II (it peaks above III 45 minutes in); the twin's does not
    def levels(flood: list[dict[str, str]]) -> list[float]:
        return [float(f["level_m"]) for f in flood if f.get("sensor") == station.id and began + 30 * 60 <= at(f)]

    risen, calm = levels(entries(r, keys, "flood")), levels(entries(r, twin_keys, "flood"))
    assert risen and calm and min(risen) > station.alarm_levels_m[1] > max(calm), (risen, calm)
    assert all(r.xlen(Keys(base).events(d)) == 0 for d in DOMAINS)  # live got nothing

    # the trainer sees both with the messages; the trainees' banner does not (they have to notice)
    board = trainer.read_board(db, r, base, drilled.id)
    assert {m.inject for m in board.messages} == {crash.inject, dark.inject, flood.inject}
    assert all(m.on_map and m.kind == "episode" for m in board.messages)
    assert "Crash on" in crash.text_en and camera.name in dark.text_en
    assert sent_injects(db, drilled.id, messages_only=True) == [] and sent_injects(db, twin.id) == []
    view = trainer.trainee_view(db, r, base, 41)
    assert view is not None and view.messages == ()
    assert [e.kind for e in map_events(db, drilled.id)] == ["crash", "device_fault", "flood"]
    with db.read() as session:
        audited: list[Any] = list(
            session.execute(
                sa.select(AuditRow.actor, AuditRow.after)
                .where(AuditRow.action == "exercise.inject", AuditRow.object_id == str(drilled.id))
                .order_by(AuditRow.id)
            )
        )
    assert [(a, after["event"]["kind"]) for a, after in audited] == [
        ("trainer-a", "crash"),
        ("t", "device_fault"),
        ("t", "flood"),
    ]
