"""Exercises in the database and their namespaces in Redis: create, start, pause, resume, stop and reset one, change
its speed, jump its clock ahead, read them.

An exercise plays one scenario (with its seed, at its speed) into its own key namespace (`ioc.namespaces`), where
the aggregator and the incident engine follow it while it is active (running or paused); its incidents and their
audit rows carry its id. Statuses: created → running ⇄ paused → stopped (`start_exercise` makes one running at once,
`create_exercise` one that waits for its start); while it is not stopped its speed may change and its clock jump
ahead (`set_speed`, `jump_ahead`: the runner follows both at its next check); `reset` takes any of them back to
created, with every key of its namespace and every row made in it removed (and nothing else), so it can be played
again from the start. Every change a trainer makes is one transaction with its audit row (object type `exercise`,
not marked with the exercise: the trainer's own record survives a reset). The exercise runner keeps `position`, the
simulated time the scenario reached, so a restarted runner goes on from there with the same seed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import redis
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ioc import audit, namespaces
from ioc.audit import AuditRow
from ioc.clock import read_timebase
from ioc.db import Database, utcnow
from ioc.errors import InvalidInput, IocError, NotFound
from ioc.exercises.tables import EXERCISE_STATUSES, ExerciseInjectRow, ExerciseResultRow, ExerciseRow
from ioc.incidents.tables import IncidentAlertRow, IncidentConditionRow, IncidentRow
from ioc.inputs import clean_id, text_type
from ioc.keys import Keys

log = logging.getLogger(__name__)

OBJECT_TYPE: Final = "exercise"
MAX_SPEED: Final = 3_600.0  # an hour of scenario per second: the most the command line allows
MAX_SEED: Final = 2**63 - 1
MAX_TRAINEES: Final = 200
MAX_JUMP_MIN: Final = 24 * 60  # the furthest one jump ahead goes, minutes of scenario
JUMP_SLACK_S: Final = 1.0  # a saved position this far past the runner's own is a jump it has to follow
MAX_MESSAGE: Final = 1000
Command = Literal["start", "pause", "resume", "stop"]
# command -> (statuses it applies to, status it leaves)
COMMANDS: Final[dict[Command, tuple[tuple[str, ...], str]]] = {
    "start": (("created",), "running"),
    "pause": (("running",), "paused"),
    "resume": (("created", "paused"), "running"),
    "stop": (("created", "running", "paused"), "stopped"),
}
ACTIVE: Final = ("running", "paused")  # statuses whose namespace the consumers follow


if TYPE_CHECKING:
    ExerciseName = str
    ScenarioName = str
    Party = str
    MessageText = str
else:  # texts by the input rule (ioc/inputs.py)
    ExerciseName = text_type(100)
    ScenarioName = text_type(64)
    Party = text_type(200)
    MessageText = text_type(MAX_MESSAGE, multiline=True)


class ExerciseRefused(IocError):
    """A change the exercise's status does not allow (pausing a stopped exercise, ...)."""


class ExerciseSpec(BaseModel):
    """What a trainer asks for when starting an exercise, checked once here (texts by the input rule)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ExerciseName = Field(min_length=1)
    scenario: ScenarioName = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(ge=0, le=MAX_SEED)
    speed: float = Field(gt=0, le=MAX_SPEED, allow_inf_nan=False)
    trainees: tuple[int, ...] = Field(default=(), max_length=MAX_TRAINEES)


class ManualInject(BaseModel):
    """A message a trainer sends the trainees by hand (texts by the input rule)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sender: Party = Field(min_length=1)
    recipient: Party = Field(min_length=1)
    text: MessageText = Field(min_length=1)


class Exercise(BaseModel):
    """One exercise as plain data."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    scenario: str
    seed: int
    speed: float
    status: str
    sim_start: float | None
    position: float | None
    finished: bool
    created_by: str
    trainees: tuple[int, ...]
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    updated_at: datetime
    version: int

    def namespace(self, base: str = namespaces.LIVE) -> str:
        """The exercise's key namespace under the base namespace."""
        return namespaces.exercise_namespace(base, self.id)

    @property
    def active(self) -> bool:
        """Whether the consumers follow its namespace (running or paused)."""
        return self.status in ACTIVE

    def as_json(self, base: str = namespaces.LIVE) -> dict[str, Any]:
        """JSON-ready form: times ISO 8601 UTC, the simulated ones too (null until the runner first played it)."""

        def iso(value: datetime | float | None) -> str | None:
            if value is None:
                return None
            moment = datetime.fromtimestamp(value, UTC) if isinstance(value, float) else value
            return moment.isoformat()

        return {
            "id": self.id,
            "name": self.name,
            "scenario": self.scenario,
            "seed": self.seed,
            "speed": self.speed,
            "status": self.status,
            "namespace": self.namespace(base),
            "sim_start": iso(self.sim_start),
            "position": iso(self.position),
            "finished": self.finished,
            "created_by": self.created_by,
            "trainees": list(self.trainees),
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "stopped_at": iso(self.stopped_at),
            "updated_at": iso(self.updated_at),
            "version": self.version,
        }


def to_exercise(row: ExerciseRow) -> Exercise:
    """The plain form of a row."""
    values = {name: getattr(row, name) for name in Exercise.model_fields}
    values["trainees"] = tuple(row.trainees or ())
    return Exercise(**values)


def _audited(row: ExerciseRow) -> dict[str, Any]:
    return {"status": row.status, "position": row.position, "finished": row.finished}


def check_spec(**values: Any) -> ExerciseSpec:
    """The spec of these values, or InvalidInput naming each field at fault."""
    try:
        return ExerciseSpec(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'exercise'}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(problems) from None


def start_exercise(db: Database, client: redis.Redis, spec: ExerciseSpec, *, actor: str, base: str) -> Exercise:
    """Create an exercise, running at once: the runner plays it and the consumers follow its namespace from their
    next check."""
    exercise = _create(db, spec, actor=actor, running=True)
    namespaces.activate(client, base, exercise.namespace(base))
    log.info("exercise %d (%s) started: %s at x%g", exercise.id, exercise.name, exercise.scenario, exercise.speed)
    return exercise


def create_exercise(db: Database, spec: ExerciseSpec, *, actor: str) -> Exercise:
    """Create an exercise that waits for its start (`change_status(..., "start")`): nothing plays it until then."""
    exercise = _create(db, spec, actor=actor, running=False)
    log.info("exercise %d (%s) created: %s at x%g", exercise.id, exercise.name, exercise.scenario, exercise.speed)
    return exercise


def _create(db: Database, spec: ExerciseSpec, *, actor: str, running: bool) -> Exercise:
    """The new exercise's row and its audit row, in one transaction."""
    now = utcnow()
    row = ExerciseRow(
        name=spec.name,
        scenario=spec.scenario,
        seed=spec.seed,
        speed=spec.speed,
        status="running" if running else "created",
        sim_start=None,
        position=None,
        finished=False,
        created_by=actor,
        trainees=list(spec.trainees),
        created_at=now,
        started_at=now if running else None,
        stopped_at=None,
        updated_at=now,
    )
    with db.transaction() as session:
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="exercise.start" if running else "exercise.create",
            object_type=OBJECT_TYPE,
            object_id=row.id,
            after={**spec.model_dump(mode="json"), "status": row.status},
        )
        return to_exercise(row)


def get_exercise(db: Database, exercise_id: int) -> Exercise:
    """One exercise; NotFound if there is none with this id (InvalidInput if it cannot be an id)."""
    exercise_id = clean_id(exercise_id, field="exercise id")
    with db.read() as session:
        row = session.get(ExerciseRow, exercise_id)
        if row is None:
            raise NotFound(f"no exercise {exercise_id}")
        return to_exercise(row)


def list_exercises(db: Database, statuses: Sequence[str] = ()) -> list[Exercise]:
    """Exercises (all, or those in these statuses), newest first."""
    query = sa.select(ExerciseRow).order_by(ExerciseRow.id.desc())
    if statuses:
        query = query.where(ExerciseRow.status.in_(statuses))
    with db.read() as session:
        return [to_exercise(row) for row in session.scalars(query)]


def _locked(session: sa.orm.Session, exercise_id: int) -> ExerciseRow:
    row = session.get(ExerciseRow, exercise_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no exercise {exercise_id}")
    return row


def change_status(
    db: Database, client: redis.Redis, exercise_id: int, command: Command, *, actor: str, base: str
) -> Exercise:
    """Start (a created one), pause, resume or stop an exercise (ExerciseRefused when its status does not allow it).
    The runner starts or stops playing it at its next check; a stopped one's namespace is dropped by the consumers."""
    exercise_id = clean_id(exercise_id, field="exercise id")
    sources, target = COMMANDS[command]
    with db.transaction() as session:
        row = _locked(session, exercise_id)
        if row.status not in sources:
            raise ExerciseRefused(f"cannot {command} exercise {exercise_id}: it is {row.status}")
        before = _audited(row)
        now = utcnow()
        row.status = target
        row.updated_at = now
        if target == "running":
            row.started_at = now
        if target == "stopped":
            row.stopped_at = now
        session.flush()
        audit.record(
            session,
            actor=actor,
            action=f"exercise.{command}",
            object_type=OBJECT_TYPE,
            object_id=row.id,
            before=before,
            after=_audited(row),
        )
        exercise = to_exercise(row)
    if exercise.active:
        namespaces.activate(client, base, exercise.namespace(base))
    else:
        namespaces.deactivate(client, base, exercise.namespace(base))
    return exercise


def clock_now(client: redis.Redis, exercise: Exercise, base: str) -> float | None:
    """Where the exercise's clock stands now (simulated epoch seconds): its declared clock, else the position the
    runner saved; None before it was first played."""
    timebase = read_timebase(client, Keys(exercise.namespace(base)))
    if timebase.simulated:
        return timebase.now()
    return exercise.position


def set_speed(db: Database, exercise_id: int, speed: float, *, actor: str, most: float = MAX_SPEED) -> Exercise:
    """Change an exercise's speed (up to `most`, the caller's own bound: the trainer's page allows x60); the runner
    goes on at the new speed from where it got to at its next check. A stopped exercise is refused."""
    exercise_id = clean_id(exercise_id, field="exercise id")
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0 < speed <= min(most, MAX_SPEED):
        raise InvalidInput(f"speed must be a number above 0 and at most {min(most, MAX_SPEED):g}")
    with db.transaction() as session:
        row = _locked(session, exercise_id)
        if row.status == "stopped":
            raise ExerciseRefused(f"cannot change the speed of exercise {exercise_id}: it is stopped")
        before = {"speed": row.speed}
        row.speed = float(speed)
        row.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="exercise.speed",
            object_type=OBJECT_TYPE,
            object_id=row.id,
            before=before,
            after={"speed": row.speed},
        )
        exercise = to_exercise(row)
    log.info("exercise %d now at x%g", exercise.id, exercise.speed)
    return exercise


def jump_ahead(
    db: Database, client: redis.Redis, exercise_id: int, minutes: float, *, actor: str, base: str
) -> Exercise:
    """Move a running or paused exercise's clock `minutes` of scenario ahead of where it stands now: the runner goes
    on from there (the scenario's events in between are skipped; the MSEL's injects that came due are sent at once),
    so a response not given by then is late. Refused before the runner first played it."""
    exercise_id = clean_id(exercise_id, field="exercise id")
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not 0 < minutes <= MAX_JUMP_MIN:
        raise InvalidInput(f"a jump ahead is a number of minutes above 0 and at most {MAX_JUMP_MIN}")
    current = get_exercise(db, exercise_id)
    now = clock_now(client, current, base)
    with db.transaction() as session:
        row = _locked(session, exercise_id)
        if row.status not in ACTIVE or row.position is None or now is None:
            raise ExerciseRefused(f"cannot jump exercise {exercise_id} ahead: it is {row.status}, not playing")
        before = {"position": row.position}
        row.position = max(row.position, now) + minutes * 60.0
        row.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="exercise.jump",
            object_type=OBJECT_TYPE,
            object_id=row.id,
            before=before,
            after={"position": row.position, "minutes": minutes},
        )
        exercise = to_exercise(row)
    log.info("exercise %d jumped %g min ahead", exercise.id, minutes)
    return exercise


def trainee_exercise(db: Database, account_id: int) -> Exercise | None:
    """The active exercise (running or paused) an account trains in, the newest if several; None if none."""
    return next((e for e in list_exercises(db, ACTIVE) if account_id in e.trainees), None)


def reset_exercise(db: Database, client: redis.Redis, exercise_id: int, *, actor: str, base: str) -> Exercise:
    """Take an exercise back to created, as if never played: its namespace is taken out of the consumers' set, and
    once no process works in it any more every key of it is deleted, then every row made in it (incidents, their
    applied alerts, pending conditions, audit rows marked with it, the injects it sent and the results it was given).
    Nothing outside the exercise is touched."""
    exercise_id = clean_id(exercise_id, field="exercise id")
    with db.transaction() as session:  # first no longer active: the runner and the consumers let go of it
        row = _locked(session, exercise_id)
        before = _audited(row)
        row.status, row.position, row.sim_start, row.finished = "created", None, None, False
        row.started_at = row.stopped_at = None
        row.updated_at = utcnow()
        session.flush()
        exercise = to_exercise(row)
    namespace = exercise.namespace(base)
    since = time.time()
    namespaces.deactivate(client, base, namespace)
    left = namespaces.wait_released(client, base, namespace, since=since)
    if left:
        raise ExerciseRefused(
            f"exercise {exercise_id}: {', '.join(left)} still work in {namespace}; nothing was removed, try again"
        )
    keys = namespaces.wipe(client, namespace)
    with db.transaction() as session:
        removed = _delete_rows(session, exercise_id, namespace)
        audit.record(
            session,
            actor=actor,
            action="exercise.reset",
            object_type=OBJECT_TYPE,
            object_id=exercise_id,
            before=before,
            after={**_audited(_locked(session, exercise_id)), "removed": {"keys": keys, **removed}},
        )
    log.info("exercise %d reset: %d keys and %s removed", exercise_id, keys, removed)
    return exercise


def _count(result: sa.Result[Any]) -> int:
    """The rows a DELETE or UPDATE touched."""
    return int(cast(sa.CursorResult[Any], result).rowcount)


def _delete_rows(session: sa.orm.Session, exercise_id: int, namespace: str) -> dict[str, int]:
    """Delete every row made in the exercise; how many of each kind."""
    incidents = sa.select(IncidentRow.id).where(IncidentRow.exercise_id == exercise_id)
    alerts = session.execute(
        sa.delete(IncidentAlertRow).where(
            sa.or_(
                IncidentAlertRow.incident_id.in_(incidents),
                IncidentAlertRow.entry.startswith(f"{namespace}/", autoescape=True),
            )
        )
    )
    counts = {"incident_alerts": _count(alerts)}
    for name, made in (("injects", ExerciseInjectRow), ("results", ExerciseResultRow)):
        counts[name] = _count(session.execute(sa.delete(made).where(made.exercise_id == exercise_id)))
    for name, table in (
        ("incidents", IncidentRow),
        ("incident_conditions", IncidentConditionRow),
        ("audit_rows", AuditRow),
    ):
        result = session.execute(sa.delete(table).where(table.exercise_id == exercise_id))
        counts[name] = _count(result)
    return counts


def save_position(db: Database, exercise_id: int, *, sim_start: float, position: float, finished: bool = False) -> bool:
    """The runner's note of where the scenario is (simulated epoch seconds), unless the exercise was reset
    meanwhile; a scenario that ended stops the exercise (`finished`). A position behind the saved one (a jump ahead
    the runner has not followed yet) leaves the saved one. Whether it was saved."""
    values: dict[str, Any] = {"sim_start": sim_start, "position": position}
    if finished:
        now = utcnow()
        values.update(finished=True, status="stopped", stopped_at=now, updated_at=now)
    with db.transaction() as session:
        # Never backwards: a trainer's jump ahead (`jump_ahead`) saved meanwhile stays, and the runner follows it.
        saved_at = session.execute(
            sa.select(ExerciseRow.position).where(ExerciseRow.id == exercise_id).with_for_update()
        ).scalar_one_or_none()
        if saved_at is not None and saved_at > position:
            values["position"] = saved_at
        result = session.execute(
            sa.update(ExerciseRow)
            .where(ExerciseRow.id == exercise_id, ExerciseRow.status != "created")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        saved = bool(_count(result))
        if saved and finished:
            audit.record(
                session,
                actor="exercise-runner",
                action="exercise.finish",
                object_type=OBJECT_TYPE,
                object_id=exercise_id,
                after={"status": "stopped", "position": position, "finished": True},
            )
    return saved


__all__ = [
    "ACTIVE",
    "EXERCISE_STATUSES",
    "MAX_SPEED",
    "Exercise",
    "ExerciseRefused",
    "ExerciseSpec",
    "ManualInject",
    "change_status",
    "check_spec",
    "clock_now",
    "create_exercise",
    "get_exercise",
    "jump_ahead",
    "list_exercises",
    "reset_exercise",
    "save_position",
    "set_speed",
    "start_exercise",
    "trainee_exercise",
]
