"""An exercise's MSEL in the database: the injects it sent (`send_due`, once each, on the exercise's clock), what it
holds to score (`evidence`) and the ratings kept when it stops (`keep_results`). The scoring itself is pure
(`ioc/exercises/scoring.py`); the MSEL comes from the exercise's scenario (the caller loads it).

Sending is restart-safe: each inject is a row unique per exercise and inject, so a second attempt (a runner restarted
after it sent one, two runners at once) inserts nothing. A scheduled inject is sent once the exercise's clock reaches
its `at_min`; a contingency once one of its inject's expected responses is past its target and still not done, and
only then. An event inject's episode is played by the simulation itself (the scenario's episodes, with an MSEL's
inline ones): its row records that it came, for the timeline.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import redis
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from ioc import audit
from ioc.audit import AuditRow
from ioc.db import Database, utcnow
from ioc.exercises.msel import Contingency, Inject, Msel
from ioc.exercises.records import ACTIVE, ExerciseRefused, ManualInject, clock_now, get_exercise
from ioc.exercises.scoring import (
    ObjectiveScore,
    ResponseScore,
    SentInject,
    TraineeAction,
    due_contingencies,
    score_objectives,
    score_responses,
    trainee_actions,
)
from ioc.exercises.tables import ExerciseInjectRow, ExerciseResultRow
from ioc.incidents.lifecycle import to_incident
from ioc.incidents.model import Incident
from ioc.incidents.tables import IncidentRow
from ioc.inputs import clean_id

log = logging.getLogger(__name__)

OBJECT_TYPE: Final = "exercise"


def record_inject(db: Database, row: ExerciseInjectRow, *, actor: str, details: dict[str, Any]) -> SentInject:
    """Store an inject a person sent (a message or a map event) with its audit row, in one transaction."""
    with db.transaction() as session:
        session.add(row)
        session.flush()
        sent = sent_of(row)
        audit.record(
            session,
            actor=actor,
            action="exercise.inject",
            object_type=OBJECT_TYPE,
            object_id=row.exercise_id,
            after={"inject": row.inject, "at": sent.sent_at.isoformat(), **details},
        )
    return sent


def sent_of(row: ExerciseInjectRow) -> SentInject:
    """An inject row as plain data."""
    return SentInject(
        inject=row.inject,
        kind=row.kind,
        objective=row.objective,
        sent_at=row.sent_at,
        sender=row.sender,
        recipient=row.recipient,
        text_vi=row.text_vi,
        text_en=row.text_en,
        on_map=row.episode is not None,
    )


def sent_injects(db: Database, exercise_id: int, *, messages_only: bool = False) -> list[SentInject]:
    """The injects an exercise sent, in the order of its clock (only messages and contingencies if asked)."""
    exercise_id = clean_id(exercise_id, field="exercise id")
    query = (
        sa.select(ExerciseInjectRow)
        .where(ExerciseInjectRow.exercise_id == exercise_id)
        .order_by(ExerciseInjectRow.sent_at, ExerciseInjectRow.id)
    )
    if messages_only:
        query = query.where(ExerciseInjectRow.kind != "episode")
    with db.read() as session:
        return [sent_of(row) for row in session.scalars(query)]


def evidence(db: Database, exercise_id: int) -> tuple[list[SentInject], list[Incident], list[TraineeAction]]:
    """What an exercise is scored on: the injects it sent, its incidents and its trainees' actions."""
    exercise_id = clean_id(exercise_id, field="exercise id")
    sent = sent_injects(db, exercise_id)
    with db.read() as session:
        incidents = [
            to_incident(row)
            for row in session.scalars(
                sa.select(IncidentRow).where(IncidentRow.exercise_id == exercise_id).order_by(IncidentRow.id)
            )
        ]
        entries = [
            audit.to_entry(r)
            for r in session.scalars(
                sa.select(AuditRow)
                .where(AuditRow.exercise_id == exercise_id, AuditRow.object_type == "incident")
                .order_by(AuditRow.id)
            )
        ]
    return sent, incidents, trainee_actions(entries, incidents)


def _row(exercise_id: int, inject: Inject[Any], at: datetime, contingency: Contingency | None) -> ExerciseInjectRow:
    if contingency is not None:
        return ExerciseInjectRow(
            exercise_id=exercise_id,
            inject=contingency.id,
            kind="contingency",
            objective=inject.objective,
            sent_at=at,
            sender=contingency.sender,
            recipient=contingency.to,
            text_vi=contingency.text.vi,
            text_en=contingency.text.en,
        )
    if inject.text is not None:
        return ExerciseInjectRow(
            exercise_id=exercise_id,
            inject=inject.id,
            kind="message",
            objective=inject.objective,
            sent_at=at,
            sender=inject.sender or "",
            recipient=inject.to or "",
            text_vi=inject.text.vi,
            text_en=inject.text.en,
        )
    title = str(getattr(inject.episode, "title", "") or "")
    return ExerciseInjectRow(
        exercise_id=exercise_id,
        inject=inject.id,
        kind="episode",
        objective=inject.objective,
        sent_at=at,
        sender="",
        recipient="",
        text_vi=title or f"sự kiện {inject.episode_ref()}",
        text_en=f"episode {inject.episode_ref()}" + (f": {title}" if title else ""),
    )


def _insert(db: Database, row: ExerciseInjectRow) -> bool:
    """Insert one inject row; False if the exercise already has it (the unique key)."""
    try:
        with db.transaction() as session:
            session.add(row)
    except sa_exc.IntegrityError:
        return False
    return True


def send_due(
    db: Database, exercise_id: int, msel: Msel[Any], *, sim_start: datetime, now: datetime
) -> list[SentInject]:
    """Send what is due at `now` on the exercise's clock (its scenario began at `sim_start`): the scheduled injects
    reached and the contingencies of late responses, each once; the ones this call sent."""
    exercise_id = clean_id(exercise_id, field="exercise id")
    sent = sent_injects(db, exercise_id)
    done = {s.inject for s in sent}
    rows = [
        _row(exercise_id, inject, now, None)
        for inject in msel.injects
        if inject.id not in done and (now - sim_start).total_seconds() >= inject.at_s
    ]
    waiting = [i for i in msel.injects if i.contingency is not None and i.contingency.id not in done and i.id in done]
    if waiting:
        _, incidents, actions = evidence(db, exercise_id)
        rows += [
            _row(exercise_id, inject, now, inject.contingency)
            for inject in due_contingencies(msel, sent, incidents, actions, now)
        ]
    new = [sent_of(row) for row in rows if _insert(db, row)]
    for item in new:
        log.info("exercise %d: %s %s sent", exercise_id, item.kind, item.inject)
    return new


def send_by_hand(
    db: Database, client: redis.Redis, exercise_id: int, message: ManualInject, *, actor: str, base: str
) -> SentInject:
    """Send the trainees of a running or paused exercise a message a trainer typed (from, to, text: the same text in
    both languages), at its clock now; with the trainer's audit row (not marked with the exercise: it outlives a
    reset, the message itself does not)."""
    exercise = get_exercise(db, exercise_id)
    at = clock_now(client, exercise, base)
    if exercise.status not in ACTIVE or at is None:
        raise ExerciseRefused(f"cannot send exercise {exercise.id} a message: it is {exercise.status}, not playing")
    row = ExerciseInjectRow(
        exercise_id=exercise.id,
        inject=f"by-hand-{secrets.token_hex(6)}",
        kind="message",
        objective=None,
        sent_at=clock_time(at),
        sender=message.sender,
        recipient=message.recipient,
        text_vi=message.text,
        text_en=message.text,
    )
    sent = record_inject(db, row, actor=actor, details=message.model_dump())
    log.info("exercise %d: message %s sent by hand by %s", exercise.id, sent.inject, actor)
    return sent


def score(db: Database, exercise_id: int, msel: Msel[Any], now: datetime) -> list[ObjectiveScore]:
    """The exercise's ratings as of `now` on its clock."""
    sent, incidents, actions = evidence(db, exercise_id)
    return score_objectives(msel, score_responses(msel, sent, incidents, actions, now))


def score_responses_now(db: Database, exercise_id: int, msel: Msel[Any], now: datetime) -> list[ResponseScore]:
    """Every expected response of the exercise as of `now` on its clock (the trainer's page shows them live)."""
    sent, incidents, actions = evidence(db, exercise_id)
    return score_responses(msel, sent, incidents, actions, now)


def keep_results(db: Database, exercise_id: int, msel: Msel[Any], now: datetime, *, actor: str) -> list[ObjectiveScore]:
    """Score the exercise as of `now` (where its clock stopped) and keep one result row per objective, replacing
    those of an earlier stop, with an audit row (the trainer's: it outlives a reset)."""
    exercise_id = clean_id(exercise_id, field="exercise id")
    scores = score(db, exercise_id, msel, now)
    scored_at = utcnow()
    with db.transaction() as session:
        session.execute(sa.delete(ExerciseResultRow).where(ExerciseResultRow.exercise_id == exercise_id))
        for objective in scores:
            session.add(
                ExerciseResultRow(
                    exercise_id=exercise_id,
                    objective=objective.objective,
                    name_vi=objective.name_vi[:300],
                    name_en=objective.name_en[:300],
                    rating=objective.rating,
                    on_time=objective.count("on_time"),
                    late=objective.count("late"),
                    missed=objective.count("missed"),
                    details=[r.as_json() for r in objective.responses],
                    scored_at=scored_at,
                )
            )
        audit.record(
            session,
            actor=actor,
            action="exercise.score",
            object_type=OBJECT_TYPE,
            object_id=exercise_id,
            after={"at": now.isoformat(), "ratings": {o.objective: o.rating for o in scores}},
        )
    return scores


def kept_results(db: Database, exercise_ids: Sequence[int] = ()) -> list[dict[str, Any]]:
    """The kept results (of these exercises, or all), by exercise and objective, as JSON-ready rows."""
    query = sa.select(ExerciseResultRow).order_by(ExerciseResultRow.exercise_id, ExerciseResultRow.id)
    if exercise_ids:
        query = query.where(ExerciseResultRow.exercise_id.in_([clean_id(i, field="exercise id") for i in exercise_ids]))
    with db.read() as session:
        return [
            {
                "exercise_id": row.exercise_id,
                "objective": row.objective,
                "name_vi": row.name_vi,
                "name_en": row.name_en,
                "rating": row.rating,
                "on_time": row.on_time,
                "late": row.late,
                "missed": row.missed,
                "scored_at": row.scored_at.isoformat(),
            }
            for row in session.scalars(query)
        ]


def kept_details(db: Database, exercise_id: int) -> list[dict[str, Any]]:
    """The expected responses an exercise's kept results rest on (each `ResponseScore.as_json()`), in order."""
    exercise_id = clean_id(exercise_id, field="exercise id")
    query = (
        sa.select(ExerciseResultRow).where(ExerciseResultRow.exercise_id == exercise_id).order_by(ExerciseResultRow.id)
    )
    with db.read() as session:
        return [item for row in session.scalars(query) for item in row.details]


def clock_time(epoch_s: float) -> datetime:
    """An exercise-clock instant (epoch seconds, as the exercise row and the clock keep it) as a UTC datetime."""
    return datetime.fromtimestamp(epoch_s, UTC)
