"""The trainer's page in the core (no Dash here): the forms it posts, checked at the input boundary (pydantic with the
input rule's types, `ioc.inputs`), the commands they run, and what the page shows of an exercise (`Board`): the
exercises, the one selected with its clock, its expected responses (live from the runner while it is active, the
kept ratings' details once stopped), its trainees' actions and the messages it sent; and what the banner of a
trainee (an account assigned to a running or paused exercise) says on every page (`trainee_view`, or `banner_view`
from the workspace a request decided)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ioc.city import City
from ioc.db import Database
from ioc.errors import InvalidInput
from ioc.exercises.injects import evidence, kept_details, send_by_hand, sent_injects
from ioc.exercises.map_injects import MapInjectKind, send_map_inject
from ioc.exercises.progress import read_progress
from ioc.exercises.records import (
    MAX_SEED,
    MAX_TRAINEES,
    Exercise,
    ManualInject,
    change_status,
    check_spec,
    clock_now,
    create_exercise,
    get_exercise,
    jump_ahead,
    list_exercises,
    reset_exercise,
    set_speed,
    trainee_exercise,
)
from ioc.exercises.scoring import SentInject, TraineeAction
from ioc.exercises.workspace import Workspace
from ioc.inputs import LATITUDE, LONGITUDE, clean_id, coordinate_type, text_type
from ioc.keys import Keys

PAGE_MAX_SPEED: Final = 60.0  # the page allows x1 to x60 (the command line up to x3600)
PAGE_MAX_JUMP_MIN: Final = 240
PageCommand = Literal["start", "pause", "resume", "stop", "reset"]
M = TypeVar("M", bound=BaseModel)

if TYPE_CHECKING:
    Name = str
    Scenario = str
    Latitude = float
    Longitude = float
else:  # texts and coordinates by the input rule (ioc/inputs.py)
    Name = text_type(100)
    Scenario = text_type(64)
    Latitude = coordinate_type(LATITUDE)
    Longitude = coordinate_type(LONGITUDE)


class _Form(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _ids(values: object) -> tuple[int, ...]:
    if values is None:
        return ()
    if not isinstance(values, list | tuple):
        raise ValueError("must be a list of account ids")
    return tuple(sorted({clean_id(v, field="trainee") for v in values}))


class CreateForm(_Form):
    """A new exercise: its name, scenario, speed (x1 to x60) and trainees (account ids)."""

    name: Name = Field(min_length=1)
    scenario: Scenario = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    speed: float = Field(ge=1, le=PAGE_MAX_SPEED, allow_inf_nan=False)
    trainees: tuple[int, ...] = Field(default=(), max_length=MAX_TRAINEES)

    _trainees = field_validator("trainees", mode="before")(_ids)


class ControlForm(_Form):
    """A command on the exercise selected."""

    exercise: int
    command: PageCommand

    _exercise = field_validator("exercise", mode="before")(lambda v: clean_id(v, field="exercise"))


class SpeedForm(_Form):
    """A new speed for the exercise selected."""

    exercise: int
    speed: float = Field(ge=1, le=PAGE_MAX_SPEED, allow_inf_nan=False)

    _exercise = field_validator("exercise", mode="before")(lambda v: clean_id(v, field="exercise"))


class JumpForm(_Form):
    """A jump ahead of the exercise selected, in minutes of scenario."""

    exercise: int
    minutes: int = Field(ge=1, le=PAGE_MAX_JUMP_MIN)

    _exercise = field_validator("exercise", mode="before")(lambda v: clean_id(v, field="exercise"))


class InjectForm(_Form):
    """A message to the trainees of the exercise selected."""

    exercise: int
    message: ManualInject

    _exercise = field_validator("exercise", mode="before")(lambda v: clean_id(v, field="exercise"))


class PointForm(_Form):
    """A point clicked on the map."""

    lat: Latitude
    lon: Longitude

    @property
    def point(self) -> tuple[float, float]:
        """(lat, lon)."""
        return self.lat, self.lon


class MapInjectForm(_Form):
    """An event placed on the map of the exercise selected: what happens (a flood point, a crash, a device fault) and
    the point clicked."""

    exercise: int
    kind: MapInjectKind
    lat: Latitude
    lon: Longitude

    _exercise = field_validator("exercise", mode="before")(lambda v: clean_id(v, field="exercise"))


def parse(model: type[M], **values: Any) -> M:
    """The form `model` of the values a browser posted; InvalidInput naming each field at fault (never the value)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(problems) from None


def create(db: Database, form: CreateForm, *, allowed_trainees: Sequence[int], actor: str) -> Exercise:
    """Create the exercise of a form (a random seed), waiting for its start; trainees must be among
    `allowed_trainees` (the operator accounts the page offered)."""
    strangers = set(form.trainees) - set(allowed_trainees)
    if strangers:
        raise InvalidInput(f"trainees: {len(strangers)} are not operator accounts")
    seed = secrets.randbelow(MAX_SEED)
    spec = check_spec(name=form.name, scenario=form.scenario, seed=seed, speed=form.speed, trainees=form.trainees)
    return create_exercise(db, spec, actor=actor)


def command(db: Database, client: redis.Redis, form: ControlForm, *, actor: str, base: str) -> Exercise:
    """Run a command of the page on an exercise."""
    if form.command == "reset":
        return reset_exercise(db, client, form.exercise, actor=actor, base=base)
    return change_status(db, client, form.exercise, form.command, actor=actor, base=base)


def change_speed(db: Database, form: SpeedForm, *, actor: str) -> Exercise:
    """Change the speed of an exercise (x1 to x60 from the page)."""
    return set_speed(db, form.exercise, form.speed, actor=actor, most=PAGE_MAX_SPEED)


def jump(db: Database, client: redis.Redis, form: JumpForm, *, actor: str, base: str) -> Exercise:
    """Jump an exercise's clock ahead."""
    return jump_ahead(db, client, form.exercise, form.minutes, actor=actor, base=base)


def inject(db: Database, client: redis.Redis, form: InjectForm, *, actor: str, base: str) -> SentInject:
    """Send the trainees of an exercise a message."""
    return send_by_hand(db, client, form.exercise, form.message, actor=actor, base=base)


def inject_on_map(
    db: Database, client: redis.Redis, city: City, form: MapInjectForm, *, actor: str, base: str
) -> SentInject:
    """Add the event of a point clicked on the map to an exercise (ioc/exercises/map_injects.py)."""
    return send_map_inject(db, client, city, form.exercise, form.kind, form.lat, form.lon, actor=actor, base=base)


@dataclass(frozen=True)
class Board:
    """What the trainer's page shows: every exercise, and of the one selected its clock, expected responses,
    trainees' actions and the messages it sent (with the events placed on its map)."""

    exercises: Sequence[Exercise] = ()
    selected: Exercise | None = None
    clock: float | None = None  # simulated epoch s
    responses: Sequence[dict[str, Any]] = ()  # ResponseScore.as_json()
    actions: Sequence[TraineeAction] = ()
    messages: Sequence[SentInject] = field(default_factory=tuple)


def read_board(db: Database, client: redis.Redis, base: str, selected: int | None) -> Board:
    """The board with `selected` (None, or an id no exercise has: none selected)."""
    exercises = list_exercises(db)
    chosen = next((e for e in exercises if e.id == selected), None)
    if chosen is None:
        return Board(exercises=exercises)
    chosen = get_exercise(db, chosen.id)
    responses: Sequence[dict[str, Any]] = ()
    if chosen.active:
        progress = read_progress(client, Keys(chosen.namespace(base)))
        responses = progress.responses if progress is not None else ()
    elif chosen.status == "stopped":
        responses = kept_details(db, chosen.id)
    sent, _, actions = evidence(db, chosen.id)
    messages = [s for s in sent if s.kind != "episode" or s.on_map]
    clock = clock_now(client, chosen, base) if chosen.status != "created" else None
    return Board(exercises, chosen, clock, responses, actions, messages)


@dataclass(frozen=True)
class TraineeView:
    """What a trainee's banner says: the exercise they train in, its clock, and the newest messages it sent them."""

    exercise: Exercise
    clock: float | None
    messages: Sequence[SentInject] = ()


def trainee_view(
    db: Database, client: redis.Redis, base: str, account_id: int, *, messages: int = 3
) -> TraineeView | None:
    """The banner of an account training in a running or paused exercise, or None (not a trainee now)."""
    exercise = trainee_exercise(db, account_id)
    if exercise is None:
        return None
    try:
        clock = clock_now(client, exercise, base)
    except (redis.RedisError, OSError):
        clock = exercise.position  # the banner must stay: the saved position will do
    sent = sent_injects(db, exercise.id, messages_only=True)
    return TraineeView(exercise, clock, tuple(sent[-messages:]) if messages > 0 else ())


def banner_view(db: Database, space: Workspace, *, messages: int = 3) -> TraineeView | None:
    """The banner of the person whose workspace (`ioc.exercises.workspace`, decided once per request) is an
    exercise, or None when it is live: the database is asked only for a trainee's messages."""
    if space.exercise is None:
        return None
    clock = None if space.clock is None else space.clock.timestamp()
    sent = sent_injects(db, space.exercise.id, messages_only=True) if messages > 0 else []
    return TraineeView(space.exercise, clock, tuple(sent[-messages:]))
