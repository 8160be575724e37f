"""Scoring a training exercise against its MSEL: pure functions over what it sent (its inject rows), its incidents
and its audit rows, all on the exercise's clock. No database here (ioc/exercises/results.py reads and keeps).

**An expected response** (ioc/exercises/msel.py) is met by the first trainee action that matches it: the same action
(`open_by_hand`: an incident opened by hand, after the inject was sent), on an incident of its type, at its place
and to its unit when given. Its clock starts when its inject was sent or, for an action on an incident the engine
opened later, at that opening (nobody can acknowledge an incident before it exists); its target is `within_min`.
It is then
- `on_time`: done by the target (an action taken before the inject counts, after 0 s),
- `late`: done after it,
- `missed`: not done and the target has passed (on the exercise's clock, `now`),
- `pending`: not done, the target still ahead (an exercise stopped before then leaves it so: not rated),
- `not_sent`: its inject was never sent (the exercise ended before it).

**An objective's rating** (HSEEP's four) over its responses that are on time, late or missed:
`P` performed without challenges (all on time), `S` performed with some challenges (all done, some late),
`M` performed with major challenges (some missed, not all), `U` unable to be performed (all missed);
none decided yet: no rating.

**A trainee action** is an audit row of the exercise on an incident (`incident.acknowledge`, `.dispatch`,
`.resolve`, `.close`, `.comment`, `.reopen`) by a person (not the incident engine), at the exercise-clock time it
carries (`clock_at`), or an incident opened by hand (`open_by_hand`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from ioc.audit import AuditEntry
from ioc.exercises.msel import Expected, Inject, Msel
from ioc.incidents.model import Incident

ENGINE_ACTOR: Final = "incident-engine"  # ioc.incidents.engine.ACTOR: its rows are no trainee's
PERSON_ACTIONS: Final = ("acknowledge", "dispatch", "resolve", "close", "comment", "reopen")
ResponseStatus = Literal["on_time", "late", "missed", "pending", "not_sent"]
Rating = Literal["P", "S", "M", "U"]
RATING_NAMES: Final[dict[str, tuple[str, str]]] = {
    "P": ("Hoàn thành, không gặp khó khăn", "Performed without challenges"),
    "S": ("Hoàn thành, gặp một số khó khăn", "Performed with some challenges"),
    "M": ("Hoàn thành, gặp khó khăn lớn", "Performed with major challenges"),
    "U": ("Không thể thực hiện", "Unable to be performed"),
}


@dataclass(frozen=True)
class SentInject:
    """An inject as the exercise sent it (a row of exercise_injects)."""

    inject: str
    kind: str  # message | episode | contingency
    objective: str | None
    sent_at: datetime  # exercise clock
    sender: str
    recipient: str
    text_vi: str
    text_en: str
    on_map: bool = False  # a trainer placed it on the map (an event, not a message)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form (the time ISO 8601 UTC, on the exercise's clock)."""
        return {
            "inject": self.inject,
            "kind": self.kind,
            "objective": self.objective,
            "sent_at": self.sent_at.isoformat(),
            "from": self.sender,
            "to": self.recipient,
            "text_vi": self.text_vi,
            "text_en": self.text_en,
            "on_map": self.on_map,
        }


@dataclass(frozen=True)
class TraineeAction:
    """Something a trainee did to an incident, on the exercise's clock."""

    at: datetime
    action: str  # one of PERSON_ACTIONS, or open_by_hand
    incident_id: int
    incident_type: str
    place: str
    unit: str | None
    actor: str


@dataclass(frozen=True)
class ResponseScore:
    """One expected response and how it went."""

    inject: str
    index: int  # its place in the inject's `expected`
    objective: str
    expected: Expected
    status: ResponseStatus
    start_at: datetime | None  # its clock started (None: inject not sent)
    due_at: datetime | None
    done_at: datetime | None
    took_s: float | None  # from start to done (0 when done before the start)
    incident_id: int | None  # the incident the action was on

    @property
    def target_s(self) -> float:
        """The time it was given, seconds."""
        return self.expected.within_min * 60.0

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form (times ISO 8601 UTC on the exercise's clock)."""

        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "inject": self.inject,
            "index": self.index,
            "objective": self.objective,
            "expected": self.expected.model_dump(mode="json", exclude_none=True),
            "status": self.status,
            "start_at": iso(self.start_at),
            "due_at": iso(self.due_at),
            "done_at": iso(self.done_at),
            "took_s": self.took_s,
            "target_s": self.target_s,
            "incident_id": self.incident_id,
        }


@dataclass(frozen=True)
class ObjectiveScore:
    """An objective's rating and the responses it rests on."""

    objective: str
    name_vi: str
    name_en: str
    rating: Rating | None
    responses: tuple[ResponseScore, ...]

    def count(self, status: ResponseStatus) -> int:
        """How many of its responses are in this status."""
        return sum(1 for r in self.responses if r.status == status)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "objective": self.objective,
            "name_vi": self.name_vi,
            "name_en": self.name_en,
            "rating": self.rating,
            "rating_en": None if self.rating is None else RATING_NAMES[self.rating][1],
            "rating_vi": None if self.rating is None else RATING_NAMES[self.rating][0],
            "on_time": self.count("on_time"),
            "late": self.count("late"),
            "missed": self.count("missed"),
            "responses": [r.as_json() for r in self.responses],
        }


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def trainee_actions(entries: Iterable[AuditEntry], incidents: Iterable[Incident]) -> list[TraineeAction]:
    """The trainees' actions in an exercise's audit rows, oldest first (see the module's docstring)."""
    by_id = {i.id: i for i in incidents}
    found: list[TraineeAction] = []
    for entry in entries:
        if entry.object_type != "incident" or entry.object_id is None or entry.actor == ENGINE_ACTOR:
            continue
        verb = entry.action.removeprefix("incident.")
        incident = by_id.get(int(entry.object_id)) if entry.object_id.isdigit() else None
        if incident is None:
            continue
        after = entry.after or {}
        if verb == "open":
            if incident.source != "manual":
                continue
            verb = "open_by_hand"
            at = _parse(after.get("clock_at")) or incident.opened_at
        elif verb in PERSON_ACTIONS:
            at = _parse(after.get("clock_at")) or entry.at
        else:
            continue
        unit = after.get("unit") if verb == "dispatch" else None
        found.append(
            TraineeAction(
                at=at,
                action=verb,
                incident_id=incident.id,
                incident_type=incident.type,
                place=incident.place,
                unit=unit if isinstance(unit, str) else None,
                actor=entry.actor,
            )
        )
    found.sort(key=lambda a: (a.at, a.incident_id))
    return found


def _matches(expected: Expected, incident_type: str, place: str) -> bool:
    return incident_type == expected.incident_type and (expected.place is None or place == expected.place)


def score_response(
    inject: Inject[Any],
    index: int,
    sent: SentInject | None,
    incidents: Sequence[Incident],
    actions: Sequence[TraineeAction],
    now: datetime,
) -> ResponseScore:
    """How one expected response went, as of `now` on the exercise's clock."""
    expected = inject.expected[index]
    objective = inject.objective or ""
    if sent is None:
        return ResponseScore(inject.id, index, objective, expected, "not_sent", None, None, None, None, None)
    start = sent.sent_at
    done: TraineeAction | None = None
    for action in actions:
        if action.action != expected.action or not _matches(expected, action.incident_type, action.place):
            continue
        if expected.unit is not None and action.unit != expected.unit:
            continue
        if expected.action == "open_by_hand" and action.at < sent.sent_at:
            continue
        done = action
        break
    if expected.action != "open_by_hand":
        opened = [i.opened_at for i in incidents if _matches(expected, i.type, i.place)]
        if done is not None:
            opened = [i.opened_at for i in incidents if i.id == done.incident_id]
        if opened and min(opened) > start:
            start = min(opened)
    due = start + timedelta(minutes=expected.within_min)
    status: ResponseStatus = "pending"
    if done is not None:
        status = "on_time" if done.at <= due else "late"
    elif now >= due:
        status = "missed"
    took = None if done is None else max(0.0, (done.at - start).total_seconds())
    return ResponseScore(
        inject.id,
        index,
        objective,
        expected,
        status,
        start,
        due,
        None if done is None else done.at,
        took,
        None if done is None else done.incident_id,
    )


def score_responses(
    msel: Msel[Any],
    sent: Iterable[SentInject],
    incidents: Sequence[Incident],
    actions: Sequence[TraineeAction],
    now: datetime,
) -> list[ResponseScore]:
    """Every expected response of the MSEL, in its order, as of `now` on the exercise's clock."""
    by_inject = {s.inject: s for s in sent}
    return [
        score_response(inject, index, by_inject.get(inject.id), incidents, actions, now)
        for inject in msel.injects
        for index in range(len(inject.expected))
    ]


def rate(statuses: Iterable[ResponseStatus]) -> Rating | None:
    """HSEEP's rating of an objective from its responses' statuses (the rule in the module's docstring)."""
    decided = [s for s in statuses if s in ("on_time", "late", "missed")]
    if not decided:
        return None
    if all(s == "on_time" for s in decided):
        return "P"
    if all(s == "missed" for s in decided):
        return "U"
    if any(s == "missed" for s in decided):
        return "M"
    return "S"


def score_objectives(msel: Msel[Any], responses: Sequence[ResponseScore]) -> list[ObjectiveScore]:
    """Each objective's rating, in the MSEL's order."""
    return [
        ObjectiveScore(
            objective=objective.id,
            name_vi=objective.name.vi,
            name_en=objective.name.en,
            rating=rate(r.status for r in responses if r.objective == objective.id),
            responses=tuple(r for r in responses if r.objective == objective.id),
        )
        for objective in msel.objectives
    ]


def due_contingencies(
    msel: Msel[Any],
    sent: Iterable[SentInject],
    incidents: Sequence[Incident],
    actions: Sequence[TraineeAction],
    now: datetime,
) -> list[Inject[Any]]:
    """The injects whose contingency is due now: sent, one of their expected responses past its target and still
    not done, and the contingency not sent yet."""
    sent = list(sent)
    already = {s.inject for s in sent}
    late = {r.inject for r in score_responses(msel, sent, incidents, actions, now) if r.status == "missed"}
    return [
        inject
        for inject in msel.injects
        if inject.contingency is not None and inject.id in late and inject.contingency.id not in already
    ]


@dataclass(frozen=True)
class TimelineEntry:
    """One line of an exercise's timeline."""

    at: datetime  # exercise clock
    kind: str  # inject | incident | action
    what: str

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"at": self.at.isoformat(), "kind": self.kind, "what": self.what}


def timeline(
    sent: Iterable[SentInject], incidents: Iterable[Incident], actions: Iterable[TraineeAction]
) -> list[TimelineEntry]:
    """Injects sent, incidents opened and trainee actions, in the order of the exercise's clock."""
    entries = [
        TimelineEntry(
            s.sent_at,
            "inject",
            f"{s.kind} {s.inject}: " + (f"{s.sender} → {s.recipient}: {s.text_en}" if s.sender else s.text_en),
        )
        for s in sent
    ]
    entries += [
        TimelineEntry(i.opened_at, "incident", f"incident {i.id} opened ({i.source}): {i.type} at {i.place}")
        for i in incidents
    ]
    entries += [
        TimelineEntry(
            a.at,
            "action",
            f"{a.actor}: {a.action} incident {a.incident_id} ({a.incident_type} at {a.place})"
            + (f" to {a.unit}" if a.unit else ""),
        )
        for a in actions
        if a.action != "open_by_hand"  # its opening is the incident's line
    ]
    order = {"inject": 0, "incident": 1, "action": 2}
    entries.sort(key=lambda e: (e.at, order[e.kind]))
    return entries
