"""The after-action report of an exercise, as plain data shared by the report page, its exports and `ioc exercises
report`: its header (scenario, trainees, speed, where its clock started and stopped), each expected response with
its target and the time it took (or that it was missed), each objective's HSEEP rating, the timeline (injects sent,
alerts applied, incidents opened, trainee actions) on the exercise's clock, and the kept results of every exercise of
the same scenario, so a trainer compares teams and the same team over months.

Where the scores come from: scored now from the MSEL when the caller has it (the command line loads the scenario),
else the kept results of a stopped exercise (`exercise_results`), else what the runner last wrote for an active one
(`ioc.exercises.progress`; the web may not load a scenario). Account names are the caller's (ioc/exercises/ knows no
account): `names` maps an account id to its user name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import redis
import sqlalchemy as sa

from ioc import audit, namespaces
from ioc.db import Database
from ioc.exercises.injects import clock_time, evidence
from ioc.exercises.msel import Expected, Msel
from ioc.exercises.progress import read_progress
from ioc.exercises.records import Exercise, get_exercise, list_exercises
from ioc.exercises.scoring import (
    RATING_NAMES,
    ObjectiveScore,
    Rating,
    ResponseScore,
    SentInject,
    TraineeAction,
    rate,
    score_objectives,
    score_responses,
)
from ioc.exercises.tables import ExerciseResultRow
from ioc.i18n import TEXTS, t
from ioc.incidents.model import Incident
from ioc.incidents.tables import IncidentAlertRow
from ioc.incidents.texts import label
from ioc.keys import Keys

Source = Literal["scored", "kept", "progress", "none"]
EventKind = Literal["inject", "alert", "incident", "action"]
EVENT_KINDS: Final[tuple[EventKind, ...]] = ("inject", "alert", "incident", "action")
MAX_ALERTS: Final = 2_000  # an alarm storm's alerts: the newest this many are shown
HISTORY_LIMIT: Final = 50  # past exercises of a scenario compared


@dataclass(frozen=True)
class Event:
    """One line of the timeline, on the exercise's clock, with what the reader's words are made of."""

    at: datetime
    kind: EventKind
    code: str  # inject: message|episode|contingency; alert: its kind; incident: its type; action: its verb
    ref: str = ""  # inject id, or the incident's id
    place: str = ""
    who: str = ""  # an inject's sender, an action's actor
    to: str = ""  # an inject's recipient, a dispatch's unit
    text_vi: str = ""
    text_en: str = ""
    incident_type: str = ""
    level: str = ""  # an alert's new level

    def text(self, lang: str) -> str:
        """What happened, in the reader's language (codes as words)."""
        if self.kind == "inject":
            body = self.text_vi if lang == "vi" else self.text_en
            head = t(f"aar.inject.{self.code}", lang, id=self.ref)
            return f"{head}: {self.who} → {self.to}: {body}" if self.who else f"{head}: {body}"
        if self.kind == "alert":
            return t("aar.event.alert", lang, kind=alert_word(self.code, lang), place=self.place, level=self.level)
        if self.kind == "incident":
            return t("aar.event.incident", lang, id=self.ref, type=label("type", self.code, lang), place=self.place)
        unit = f" → {label('unit', self.to, lang)}" if self.to else ""
        return t(
            "aar.event.action",
            lang,
            who=self.who,
            action=action_word(self.code, lang),
            id=self.ref,
            type=label("type", self.incident_type, lang),
            unit=unit,
        )

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form (the time ISO 8601 UTC on the exercise's clock; `what` in English)."""
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "code": self.code,
            "ref": self.ref,
            "what": self.text("en"),
        }


@dataclass(frozen=True)
class PastExercise:
    """An exercise of the same scenario and its kept ratings, for the comparison."""

    id: int
    name: str
    trainees: tuple[str, ...]
    stopped_at: datetime | None  # wall clock
    ratings: Mapping[str, Rating | None]  # objective id -> rating

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "name": self.name,
            "trainees": list(self.trainees),
            "stopped_at": None if self.stopped_at is None else self.stopped_at.isoformat(),
            "ratings": dict(self.ratings),
        }


@dataclass(frozen=True)
class AfterActionReport:
    """Everything the report shows of one exercise (see the module's docstring)."""

    exercise: Exercise
    trainees: tuple[str, ...]
    clock_start: datetime | None  # where the scenario began, on its clock
    clock_end: datetime | None  # where its clock got to (stopped there, or now)
    source: Source
    objectives: tuple[ObjectiveScore, ...] = ()
    events: tuple[Event, ...] = ()
    history: tuple[PastExercise, ...] = ()
    objective_names: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> (vi, en), the history's

    @property
    def responses(self) -> tuple[ResponseScore, ...]:
        """Every expected response, objective by objective."""
        return tuple(r for o in self.objectives for r in o.responses)

    def as_json(self, base: str = namespaces.LIVE) -> dict[str, Any]:
        """JSON-ready form (`ioc exercises report --json`)."""
        return {
            "exercise": self.exercise.as_json(base),
            "trainees": list(self.trainees),
            "clock_start": None if self.clock_start is None else self.clock_start.isoformat(),
            "clock_end": None if self.clock_end is None else self.clock_end.isoformat(),
            "source": self.source,
            "timeline": [e.as_json() for e in self.events],
            "objectives": [o.as_json() for o in self.objectives],
            "history": [h.as_json() for h in self.history],
        }


def alert_word(kind: str, lang: str) -> str:
    """An alert kind in the reader's words (the wall's words for it)."""
    key = f"alerts.kind.{kind}"
    return t(key if key in TEXTS else "alerts.kind.other", lang)


def action_word(action: str, lang: str) -> str:
    """An action's word (an incident opened by hand included)."""
    return t("aar.open_by_hand", lang) if action == "open_by_hand" else label("action", action, lang)


def rating_word(rating: str | None, lang: str) -> str:
    """HSEEP's rating in the reader's language; not rated when there is none yet."""
    if rating not in RATING_NAMES:
        return t("aar.not_rated", lang)
    vi, en = RATING_NAMES[rating]
    return vi if lang == "vi" else en


def expected_words(expected: Expected, lang: str) -> str:
    """An expected response in the reader's words: the action, on which incident (where, to whom)."""
    place = f" @ {expected.place}" if expected.place else ""
    unit = f" → {label('unit', expected.unit, lang)}" if expected.unit else ""
    return f"{action_word(expected.action, lang)} · {label('type', expected.incident_type, lang)}{place}{unit}"


def response_of(data: Mapping[str, Any]) -> ResponseScore:
    """A response as `ResponseScore.as_json()` wrote it (kept results, the runner's progress), read back."""

    def moment(key: str) -> datetime | None:
        value = data.get(key)
        return datetime.fromisoformat(value) if isinstance(value, str) else None

    took = data.get("took_s")
    incident = data.get("incident_id")
    return ResponseScore(
        inject=str(data.get("inject", "")),
        index=int(data.get("index", 0)),
        objective=str(data.get("objective") or ""),
        expected=Expected.model_validate(data.get("expected") or {}),
        status=data.get("status", "pending"),
        start_at=moment("start_at"),
        due_at=moment("due_at"),
        done_at=moment("done_at"),
        took_s=float(took) if isinstance(took, int | float) else None,
        incident_id=incident if isinstance(incident, int) else None,
    )


def _objectives_of(
    responses: Sequence[ResponseScore], names: Mapping[str, tuple[str, str]]
) -> tuple[ObjectiveScore, ...]:
    """Objectives from responses grouped by objective (in the order of first appearance, then `names`' others)."""
    order = list(dict.fromkeys([*(r.objective for r in responses), *names]))
    found = []
    for objective in order:
        mine = tuple(r for r in responses if r.objective == objective)
        vi, en = names.get(objective, (objective, objective))
        found.append(ObjectiveScore(objective, vi, en, rate(r.status for r in mine), mine))
    return tuple(found)


def _kept(db: Database, exercise_id: int) -> tuple[ObjectiveScore, ...]:
    query = (
        sa.select(ExerciseResultRow).where(ExerciseResultRow.exercise_id == exercise_id).order_by(ExerciseResultRow.id)
    )
    with db.read() as session:
        rows = list(session.scalars(query))
    return tuple(
        ObjectiveScore(
            row.objective,
            row.name_vi,
            row.name_en,
            row.rating if row.rating in RATING_NAMES else None,  # type: ignore[arg-type]
            tuple(response_of(d) for d in row.details),
        )
        for row in rows
    )


def _alerts(db: Database, incidents: Sequence[Incident]) -> list[IncidentAlertRow]:
    ids = [i.id for i in incidents]
    if not ids:
        return []
    query = (
        sa.select(IncidentAlertRow)
        .where(IncidentAlertRow.incident_id.in_(ids))
        .order_by(IncidentAlertRow.at.desc())
        .limit(MAX_ALERTS)
    )
    with db.read() as session:
        return list(session.scalars(query))


def events_of(
    sent: Iterable[SentInject],
    incidents: Iterable[Incident],
    actions: Iterable[TraineeAction],
    alerts: Iterable[IncidentAlertRow] = (),
) -> tuple[Event, ...]:
    """The timeline: injects sent, alerts applied, incidents opened and trainee actions, in the order of the clock."""
    found = [
        Event(s.sent_at, "inject", s.kind, s.inject, who=s.sender, to=s.recipient, text_vi=s.text_vi, text_en=s.text_en)
        for s in sent
    ]
    found += [Event(a.at, "alert", a.kind, str(a.incident_id or ""), place=a.place, level=a.new) for a in alerts]
    found += [Event(i.opened_at, "incident", i.type, str(i.id), place=i.place, who=i.source) for i in incidents]
    found += [
        Event(
            a.at,
            "action",
            a.action,
            str(a.incident_id),
            place=a.place,
            who=a.actor,
            to=a.unit or "",
            incident_type=a.incident_type,
        )
        for a in actions
        if a.action != "open_by_hand"  # its opening is the incident's line
    ]
    order = {kind: n for n, kind in enumerate(EVENT_KINDS)}
    found.sort(key=lambda e: (e.at, order[e.kind]))
    return tuple(found)


def history(
    db: Database, scenario: str, *, names: Mapping[int, str] | None = None, limit: int = HISTORY_LIMIT
) -> tuple[tuple[PastExercise, ...], dict[str, tuple[str, str]]]:
    """The kept ratings of the newest exercises of a scenario (newest first), and the names of their objectives."""
    names = names or {}
    exercises = [e for e in list_exercises(db) if e.scenario == scenario]
    if not exercises:
        return (), {}
    by_id = {e.id: e for e in exercises}
    query = (
        sa.select(ExerciseResultRow)
        .where(ExerciseResultRow.exercise_id.in_(list(by_id)))
        .order_by(ExerciseResultRow.exercise_id, ExerciseResultRow.id)
    )
    ratings: dict[int, dict[str, Rating | None]] = {}
    objectives: dict[str, tuple[str, str]] = {}
    with db.read() as session:
        for row in session.scalars(query):
            ratings.setdefault(row.exercise_id, {})[row.objective] = row.rating  # type: ignore[assignment]
            objectives.setdefault(row.objective, (row.name_vi, row.name_en))
    past = sorted(ratings, key=lambda i: (by_id[i].stopped_at or by_id[i].created_at, i), reverse=True)[:limit]
    return (
        tuple(
            PastExercise(
                i,
                by_id[i].name,
                tuple(names.get(a, f"#{a}") for a in by_id[i].trainees),
                by_id[i].stopped_at,
                ratings[i],
            )
            for i in past
        ),
        objectives,
    )


def after_action_report(
    db: Database,
    exercise_id: int,
    *,
    client: redis.Redis | None = None,
    base: str = namespaces.LIVE,
    msel: Msel[Any] | None = None,
    names: Mapping[int, str] | None = None,
) -> AfterActionReport:
    """The report of an exercise (NotFound if there is none); see the module's docstring for where scores come from.
    `client` and `base` let an active exercise show what the runner last scored."""
    names = names or {}
    exercise = get_exercise(db, exercise_id)
    sent, incidents, actions = evidence(db, exercise.id)
    events = events_of(sent, incidents, actions, _alerts(db, incidents))
    clock_start = None if exercise.sim_start is None else clock_time(exercise.sim_start)
    clock_end = None if exercise.position is None else clock_time(exercise.position)
    past, objective_names = history(db, exercise.scenario, names=names)
    source: Source = "none"
    objectives: tuple[ObjectiveScore, ...] = ()
    if msel is not None:
        now = clock_end or clock_start or (sent[-1].sent_at if sent else None)
        if now is not None:
            objectives = tuple(score_objectives(msel, score_responses(msel, sent, incidents, actions, now)))
            source = "scored"
    elif exercise.status == "stopped":
        objectives, source = _kept(db, exercise.id), "kept"
    elif exercise.active and client is not None:
        progress = read_progress(client, Keys(exercise.namespace(base)))
        if progress is not None:
            responses = [response_of(r) for r in progress.responses]
            named = {**objective_names, **progress.objectives}  # the MSEL's own names, on a first run too
            objectives, source = _objectives_of(responses, named), "progress"
            clock_end = clock_time(progress.clock)
    return AfterActionReport(
        exercise=exercise,
        trainees=tuple(names.get(a, f"#{a}") for a in exercise.trainees),
        clock_start=clock_start,
        clock_end=clock_end,
        source=source,
        objectives=objectives,
        events=events,
        history=past,
        objective_names={**objective_names, **{o.objective: (o.name_vi, o.name_en) for o in objectives}},
    )


def record_export(db: Database, exercise_id: int, *, actor: str, name: str, size: int, address: str | None) -> None:
    """Audit an export of an after-action report: who took which exercise's report out, and when."""
    with db.transaction() as session:
        audit.record(
            session,
            actor=actor,
            action="exercise.report_export",
            object_type="exercise",
            object_id=exercise_id,
            after={"file": name, "bytes": size},
            address=address,
        )
