"""Incidents in the database: open one, take an action on one, read one and its timeline.

Every change is one transaction holding the change and its audit row (who, when, what, the audited fields before
and after), so the log explains every incident's state. Every change to an existing incident names the version the
caller saw: if someone changed it meanwhile, the change is refused with IncidentChanged carrying the incident as it
is now (optimistic concurrency through the row's version column, checked by the UPDATE itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ioc import audit
from ioc.audit import AuditEntry, AuditRow
from ioc.city import City
from ioc.db import Database, utcnow
from ioc.errors import NotFound
from ioc.identity.roles import Permission, Role, may
from ioc.incidents.model import (
    AUDITED_FIELDS,
    INCIDENT_TYPES,
    MAX_TEXT,
    OPEN_STATUSES,
    TRANSITIONS,
    Action,
    Incident,
    IncidentChanged,
    IncidentRefused,
    Limits,
    Status,
)
from ioc.incidents.places import Place, nearest_cameras, nearest_place
from ioc.incidents.tables import IncidentRow
from ioc.inputs import clean_id, clean_text
from ioc.rules import Severity

OBJECT_TYPE: Final = "incident"
SEVERITIES: Final = ("info", "warning", "critical")


def to_incident(row: IncidentRow) -> Incident:
    """The plain form of a row."""
    return Incident(**{name: getattr(row, name) for name in Incident.__dataclass_fields__})


def audited(row: IncidentRow) -> dict[str, Any]:
    """The audited fields of a row (an audit row's before or after)."""
    return {name: getattr(row, name) for name in AUDITED_FIELDS}


def open_key(incident_type: str, place: str, exercise: int | None = None) -> str:
    """The key at most one open engine-made incident holds: one per type and place, live (`type:place`) or in one
    training exercise (`x<id>:type:place`)."""
    return f"{incident_type}:{place}" if exercise is None else f"x{exercise}:{incident_type}:{place}"


def new_row(
    *,
    incident_type: str,
    source: str,
    place: Place,
    severity: Severity,
    detected_at: datetime,
    opened_by: str,
    limits: Limits,
    city: City,
    description: str = "",
    key: str | None = None,
    now: datetime | None = None,
    exercise: int | None = None,
) -> IncidentRow:
    """A new incident row (status new; of a training exercise if `exercise`), its limits counted from now (on the
    exercise's clock there) and its three nearest cameras attached."""
    now = now or utcnow()
    return IncidentRow(
        type=incident_type,
        source=source,
        place=place.id,
        place_kind=place.kind,
        place_name=place.name[:200],
        ward=place.ward,
        lat=place.lat,
        lon=place.lon,
        open_key=key,
        severity=severity,
        peak_severity=severity,
        status=Status.NEW.value,
        description=description,
        condition="active" if source == "engine" else "none",
        condition_at=None,
        detected_at=detected_at,
        opened_at=now,
        opened_by=opened_by,
        acknowledged_at=None,
        dispatched_at=None,
        resolved_at=None,
        closed_at=None,
        updated_at=now,
        unit=None,
        ack_due_at=limits.ack_due(now, severity),
        resolve_due_at=limits.resolve_due(now, severity),
        ack_overdue=False,
        resolve_overdue=False,
        alert_count=0,
        last_alert_at=None,
        cameras=nearest_cameras(city, place.lat, place.lon),
        exercise_id=exercise,
    )


def record_open(
    session: Session, row: IncidentRow, *, actor: str, address: str | None = None, details: dict[str, Any] | None = None
) -> None:
    """Add a new row and its audit entry to the caller's transaction."""
    session.add(row)
    session.flush()  # the id, for the audit row
    after = {**audited(row), "type": row.type, "place": row.place, "description": row.description, **(details or {})}
    audit.record(
        session,
        actor=actor,
        action="incident.open",
        object_type=OBJECT_TYPE,
        object_id=row.id,
        before=None,
        after=after,
        address=address,
        exercise_id=row.exercise_id,
    )


def _text(value: object, what: str, required: bool) -> str:
    """A comment, note or description as stored (ioc.inputs' rule: InvalidInput if it breaks it), checked for
    presence and length in the incidents' own words."""
    text = clean_text(value, field=what, max_length=None, multiline=True, allow_none=True)
    if required and not text:
        raise IncidentRefused(f"incident.needs.{what}", f"a {what} is needed")
    if len(text) > MAX_TEXT:
        raise IncidentRefused("incident.too_long", f"the {what} is longer than {MAX_TEXT} characters", limit=MAX_TEXT)
    return text


def open_by_hand(
    db: Database,
    *,
    city: City,
    limits: Limits,
    actor: str,
    role: Role | str,
    incident_type: str,
    lat: float,
    lon: float,
    description: str | None,
    severity: Severity = "warning",
    address: str | None = None,
    exercise: int | None = None,
    now: datetime | None = None,
) -> Incident:
    """An incident an operator reports: a type, a point picked on the map (the nearest road or sensor names it).

    In a training exercise (`exercise`), the caller gives `now` on the exercise's clock (`ioc.clock`, the exercise's
    namespace): the incident and its limits are counted from it, as the engine's are, and its audit row is marked
    with the exercise and carries that time (`clock_at`) for the exercise's scoring."""
    if not may(role, Permission.HANDLE_INCIDENTS):
        raise IncidentRefused("incident.refused.role", "your role may not open incidents")
    if not isinstance(incident_type, str) or incident_type not in INCIDENT_TYPES:
        raise IncidentRefused("incident.bad_type", f"unknown incident type {str(incident_type)[:40]!r}")
    if not isinstance(severity, str) or severity not in SEVERITIES:
        raise IncidentRefused("incident.bad_severity", f"unknown severity {str(severity)[:20]!r}")
    if not city.contains(lat, lon):
        raise IncidentRefused("incident.outside_city", "the place is outside the city")
    text = _text(description, "description", required=True)
    now = now or utcnow()
    row = new_row(
        incident_type=incident_type,
        source="manual",
        place=nearest_place(city, lat, lon),
        severity=severity,
        detected_at=now,
        opened_by=actor,
        limits=limits,
        city=city,
        description=text,
        now=now,
        exercise=exercise,
    )
    with db.transaction() as session:
        record_open(session, row, actor=actor, address=address, details=clock_at(row.exercise_id, now))
        return to_incident(row)


def clock_at(exercise: int | None, now: datetime) -> dict[str, Any]:
    """What an exercise's audit row adds: the time on the exercise's clock (live rows need none: their `at` is it)."""
    return {} if exercise is None else {"clock_at": now.isoformat()}


def get_incident(db: Database, incident_id: int, *, exercise: int | None = None) -> Incident:
    """One incident of the live city (or of `exercise`); NotFound if there is none with this id there, so an
    exercise's incident is never shown or acted on as a live one (InvalidInput if it cannot be an id)."""
    incident_id = clean_id(incident_id, field="incident id")
    with db.read() as session:
        row = session.get(IncidentRow, incident_id)
        if row is None or row.exercise_id != exercise:
            raise NotFound(f"no incident {incident_id}")
        return to_incident(row)


def timeline(db: Database, incident_id: int, *, exercise: int | None = None) -> list[AuditEntry]:
    """Everything that happened to an incident of the live city (or of `exercise`), oldest first (from the audit
    log; rows of another exercise, or of live, never). In an exercise each entry's time is the exercise's clock where
    its row carries it (`clock_at`), so the timeline reads as the exercise ran."""
    in_scope = AuditRow.exercise_id.is_(None) if exercise is None else AuditRow.exercise_id == exercise
    query = (
        sa.select(AuditRow)
        .where(AuditRow.object_type == OBJECT_TYPE, AuditRow.object_id == str(incident_id), in_scope)
        .order_by(AuditRow.id)
    )
    with db.read() as session:
        entries = [audit.to_entry(r) for r in session.scalars(query)]
    return entries if exercise is None else [_on_clock(e) for e in entries]


def _on_clock(entry: AuditEntry) -> AuditEntry:
    """An exercise's audit entry with its time on the exercise's clock, when the row says it (`clock_at`)."""
    given = (entry.after or {}).get("clock_at")
    if not isinstance(given, str):
        return entry
    try:
        return replace(entry, at=datetime.fromisoformat(given))
    except ValueError:
        return entry


def _apply(
    row: IncidentRow, action: Action, text: str, unit: str | None, limits: Limits, now: datetime, session: Session
) -> None:
    """Change the row as the action says (its state checked by the caller)."""
    if action is Action.ACKNOWLEDGE:
        row.acknowledged_at = now
        row.ack_overdue = row.ack_overdue or now > row.ack_due_at
    elif action is Action.DISPATCH:
        row.dispatched_at = now
        row.unit = unit
    elif action is Action.RESOLVE:
        row.resolved_at = now
        row.resolve_overdue = row.resolve_overdue or now > row.resolve_due_at
        row.open_key = None  # a new alert for this place opens a new incident
    elif action is Action.CLOSE:
        row.closed_at = now
        row.open_key = None
    elif action is Action.REOPEN:
        row.resolved_at = None
        row.closed_at = None
        row.resolve_due_at = limits.resolve_due(now, row.severity)
        if row.source == "engine":
            key = open_key(row.type, row.place, row.exercise_id)
            with session.no_autoflush:  # a flush here would write the row twice (its version bumped twice)
                taken = session.scalar(sa.select(IncidentRow.id).where(IncidentRow.open_key == key))
            row.open_key = None if taken is not None else key
    target = TRANSITIONS[action].target
    if target is not None:
        row.status = target.value


def act(
    db: Database,
    incident_id: int,
    action: Action | str,
    *,
    actor: str,
    role: Role | str,
    expected_version: int,
    limits: Limits,
    units: Sequence[str],
    text: str | None = None,
    unit: str | None = None,
    address: str | None = None,
    exercise: int | None = None,
    now: datetime | None = None,
) -> Incident:
    """Take an action on an incident of the live city (or of `exercise`) as `actor` with `role`, if the rules allow
    it and nobody changed it since `expected_version`. Refusals: IncidentRefused (not allowed, missing text),
    IncidentChanged (someone else was first: carries the incident now), NotFound (none with this id there). On a
    training exercise's incident the caller gives `now` on the exercise's clock: its times and limits are on that
    clock, and the audit row carries it (`clock_at`)."""
    try:
        action = Action(action)
    except ValueError:
        raise IncidentRefused("incident.bad_action", f"unknown action {str(action)[:40]!r}") from None
    rule = TRANSITIONS[action]
    if not may(role, rule.permission):
        raise IncidentRefused(
            "incident.refused.role", f"your role may not {action.value} incidents", action=action.value
        )
    incident_id = clean_id(incident_id, field="incident id")  # the version is compared in Python, never bound
    words = _text(text, rule.needs or "comment", required=rule.needs in ("comment", "note"))
    if rule.needs == "unit" and unit not in units:
        raise IncidentRefused("incident.needs.unit", "choose a unit to dispatch", units=", ".join(units))
    for attempt in range(2):
        try:
            return _act_once(
                db,
                incident_id,
                action,
                actor=actor,
                expected_version=expected_version,
                limits=limits,
                words=words,
                unit=unit,
                address=address,
                exercise=exercise,
                now=now,
            )
        except sa_exc.IntegrityError:
            # Only a reopen takes a unique key (the open key of its type and place); another incident took it at
            # the same moment. Once more: this time the key is seen taken and left to the other incident.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _act_once(
    db: Database,
    incident_id: int,
    action: Action,
    *,
    actor: str,
    expected_version: int,
    limits: Limits,
    words: str,
    unit: str | None,
    address: str | None,
    exercise: int | None,
    now: datetime | None = None,
) -> Incident:
    """One attempt at act(): the action's transaction with its audit row."""
    rule = TRANSITIONS[action]
    try:
        with db.transaction() as session:
            row = session.get(IncidentRow, incident_id)
            if row is None or row.exercise_id != exercise:
                raise NotFound(f"no incident {incident_id}")
            if row.version != expected_version:
                raise IncidentChanged(to_incident(row))
            if row.status not in rule.sources:
                raise IncidentRefused(
                    "incident.refused.transition",
                    f"cannot {action.value} an incident that is {row.status}",
                    action=action.value,
                    status=row.status,
                )
            before = audited(row)
            now = now or utcnow()
            _apply(row, action, words, unit, limits, now, session)
            row.updated_at = now
            session.flush()  # UPDATE ... WHERE version = expected: a concurrent winner makes this fail
            after: dict[str, Any] = audited(row)
            if words:
                after["text"] = words
            if unit is not None and action is Action.DISPATCH:
                after["unit"] = unit
            after.update(clock_at(row.exercise_id, now))
            audit.record(
                session,
                actor=actor,
                action=f"incident.{action.value}",
                object_type=OBJECT_TYPE,
                object_id=row.id,
                before=before,
                after=after,
                address=address,
                exercise_id=row.exercise_id,
            )
            return to_incident(row)
    except StaleDataError:
        raise IncidentChanged(get_incident(db, incident_id, exercise=exercise)) from None


def is_open(status: str) -> bool:
    """Whether an incident in this status still needs someone to act."""
    return status in OPEN_STATUSES
