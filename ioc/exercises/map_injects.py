"""Injects a trainer places on the map of the city: a point clicked and what happens there, added to a running (or
paused) exercise as an event of its simulation, at its clock now.

- `flood`: the water station nearest the point rises through its BĐ I, II and III lines and falls back, and the road
  segments nearest the point (up to three within 300 m, the nearest at least) flood once it is above BĐ II;
- `crash`: the road segment nearest the point is nearly blocked, its queue spilling back onto its neighbours;
- `device_fault`: the device nearest the point (a camera or a sensor) goes dark, and comes back an hour later.

What the point hits is decided here, once, when the trainer clicks (`place_event`), and kept with the inject row
(`exercise_injects.episode`), so the exercise runner plays the same event after a restart: it turns each `MapEvent`
into an episode of its scenario (`simulators/exercises.py`) and plays on from where it was, the event included,
into the exercise's namespace only. The row is the inject's record (kind `episode`, listed on the trainer's page and
in the after-action timeline, never in a trainee's banner: the trainees have to notice it); the trainer's audit row
(`exercise.inject`) is not marked with the exercise, as for a message sent by hand.
"""

from __future__ import annotations

import logging
import secrets
from typing import Final, Literal

import redis
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from ioc.city import City, distance_km, distance_to_line_km
from ioc.db import Database
from ioc.errors import InvalidInput
from ioc.exercises.injects import clock_time, record_inject
from ioc.exercises.records import ACTIVE, ExerciseRefused, clock_now, get_exercise
from ioc.exercises.scoring import SentInject
from ioc.exercises.tables import ExerciseInjectRow
from ioc.inputs import clean_id

log = logging.getLogger(__name__)

MapInjectKind = Literal["flood", "crash", "device_fault"]
MAP_INJECT_KINDS: Final[tuple[MapInjectKind, ...]] = ("flood", "crash", "device_fault")
DURATION_MIN: Final[dict[str, float]] = {"flood": 240.0, "crash": 45.0, "device_fault": 60.0}
FLOOD_REACH_KM: Final = 0.3  # segments this near the point flood with it
FLOOD_SEGMENTS: Final = 3
INJECT_PREFIX: Final = "map-"


class MapEvent(BaseModel):
    """What a point on the map turned into: its kind, where it was clicked, when it begins (minutes from the
    exercise's scenario start, as an episode's `at_min`), how long it lasts and what it hits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: MapInjectKind
    lat: float
    lon: float
    at_min: float = Field(ge=0)
    duration_min: float = Field(gt=0)
    segments: tuple[str, ...] = ()  # crash: the one blocked; flood: those under water
    station: str | None = None  # flood: the water station that rises
    device: str | None = None  # device_fault: the device that goes dark

    def targets(self) -> tuple[str, ...]:
        """The ids of what it hits."""
        return tuple(x for x in (self.station, self.device, *self.segments) if x)

    def describe(self, city: City, lang: str) -> str:
        """What happens, in the reader's language, with the places' names."""
        vi = lang == "vi"
        if self.kind == "crash":
            segment = city.segments[self.segments[0]]
            return f"Tai nạn giao thông trên {segment.road}" if vi else f"Crash on {segment.road}"
        if self.kind == "flood":
            station = city.sensors[self.station or ""].name
            roads = ", ".join(dict.fromkeys(city.segments[s].road for s in self.segments))
            if vi:
                return f"Lũ lên tại trạm {station}; ngập {roads}"
            return f"Flood rising at the {station} station; {roads} flooding"
        device = city.sensors[self.device or ""]
        return f"Thiết bị mất tín hiệu: {device.name}" if vi else f"Device gone dark: {device.name}"


def _nearest_segments(city: City, lat: float, lon: float) -> list[tuple[float, str]]:
    return sorted((distance_to_line_km(lat, lon, seg.coords), seg.id) for seg in city.segments.values())


def place_event(city: City, kind: MapInjectKind, lat: float, lon: float, *, at_min: float) -> MapEvent:
    """The event a click at (lat, lon) makes, beginning `at_min` minutes into the scenario; InvalidInput for a point
    outside the city or a city without what the kind needs."""
    if kind not in MAP_INJECT_KINDS:
        raise InvalidInput(f"kind: must be one of {', '.join(MAP_INJECT_KINDS)}")
    if not city.contains(lat, lon):
        (south, west), (north, east) = city.bbox
        raise InvalidInput(f"point: outside the city ({south:g}–{north:g} N, {west:g}–{east:g} E)")
    base = MapEvent(kind=kind, lat=lat, lon=lon, at_min=at_min, duration_min=DURATION_MIN[kind])
    if kind == "device_fault":
        devices = sorted((distance_km(lat, lon, s.lat, s.lon), s.id) for s in city.sensors.values())
        if not devices:
            raise InvalidInput("point: the city has no devices")
        return base.model_copy(update={"device": devices[0][1]})
    segments = _nearest_segments(city, lat, lon)
    if not segments:
        raise InvalidInput("point: the city has no road segments")
    if kind == "crash":
        return base.model_copy(update={"segments": (segments[0][1],)})
    stations = sorted(
        (distance_km(lat, lon, s.lat, s.lon), s.id) for s in city.sensors_of("water_station") if s.alarm_levels_m
    )
    if not stations:
        raise InvalidInput("point: the city has no water station with alarm levels")
    near = [seg for km, seg in segments[:FLOOD_SEGMENTS] if km <= FLOOD_REACH_KM] or [segments[0][1]]
    return base.model_copy(update={"station": stations[0][1], "segments": tuple(near)})


def send_map_inject(
    db: Database,
    client: redis.Redis,
    city: City,
    exercise_id: int,
    kind: MapInjectKind,
    lat: float,
    lon: float,
    *,
    actor: str,
    base: str,
) -> SentInject:
    """Add the event of a click at (lat, lon) to a running or paused exercise at its clock now, once, with the
    trainer's audit row; InvalidInput for a point outside the city, ExerciseRefused when the exercise is not playing
    (created and never started, or stopped)."""
    exercise_id = clean_id(exercise_id, field="exercise")
    if not city.contains(lat, lon):
        place_event(city, kind, lat, lon, at_min=0.0)  # raises, naming the city's bounds
    exercise = get_exercise(db, exercise_id)
    at = clock_now(client, exercise, base)
    if exercise.status not in ACTIVE or at is None or exercise.sim_start is None:
        raise ExerciseRefused(f"cannot inject into exercise {exercise.id}: it is {exercise.status}, not playing")
    event = place_event(city, kind, lat, lon, at_min=max(0.0, (at - exercise.sim_start) / 60.0))
    row = ExerciseInjectRow(
        exercise_id=exercise.id,
        inject=f"{INJECT_PREFIX}{kind.replace('_', '-')}-{secrets.token_hex(6)}",
        kind="episode",
        objective=None,
        sent_at=clock_time(at),
        sender=actor[:200],
        recipient=", ".join(event.targets())[:200],
        text_vi=event.describe(city, "vi"),
        text_en=event.describe(city, "en"),
        episode=event.model_dump(mode="json"),
    )
    sent = record_inject(db, row, actor=actor, details={"event": event.model_dump(mode="json")})
    log.info("exercise %d: %s placed on the map by %s at %s", exercise.id, kind, actor, ", ".join(event.targets()))
    return sent


def map_events(db: Database, exercise_id: int) -> tuple[MapEvent, ...]:
    """The events trainers placed on an exercise's map, in the order they were sent (what the runner adds to its
    scenario)."""
    exercise_id = clean_id(exercise_id, field="exercise id")
    query = (
        sa.select(ExerciseInjectRow.episode)
        .where(ExerciseInjectRow.exercise_id == exercise_id, ExerciseInjectRow.episode.is_not(None))
        .order_by(ExerciseInjectRow.id)
    )
    with db.read() as session:
        return tuple(MapEvent.model_validate(data) for data in session.scalars(query) if data is not None)
