"""Reading incidents for pages and scripts: a filtered list, the wall's short summary, and a cheap marker that
changes whenever any incident does (so a page polls it and reloads its table only when something happened).

Every read is of the live city's incidents unless it names a training exercise (then of that exercise's only): an
exercise's incidents never show up in live lists, figures or exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from ioc.db import Database
from ioc.incidents.lifecycle import to_incident
from ioc.incidents.model import OPEN_STATUSES, SEVERITY_ORDER, Incident
from ioc.incidents.tables import IncidentRow

DEFAULT_LIMIT: Final = 500
WALL_LIST: Final = 3


@dataclass(frozen=True)
class Filters:
    """Which incidents to show or export; an empty tuple means any. Times bound `opened_at` (from inclusive)."""

    statuses: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    wards: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    overdue_only: bool = False
    exercise: int | None = None  # None: the live city's incidents only; an id: that training exercise's only

    def where(self) -> list[sa.ColumnElement[bool]]:
        """The SQL conditions of these filters (always one exercise, or live only: they never mix)."""
        conditions: list[sa.ColumnElement[bool]] = [in_exercise(self.exercise)]
        if self.statuses:
            conditions.append(IncidentRow.status.in_(self.statuses))
        if self.types:
            conditions.append(IncidentRow.type.in_(self.types))
        if self.severities:
            conditions.append(IncidentRow.severity.in_(self.severities))
        if self.wards:
            conditions.append(IncidentRow.ward.in_(self.wards))
        if self.since is not None:
            conditions.append(IncidentRow.opened_at >= self.since)
        if self.until is not None:
            conditions.append(IncidentRow.opened_at < self.until)
        if self.overdue_only:
            conditions.append(sa.or_(IncidentRow.ack_overdue, IncidentRow.resolve_overdue))
        return conditions


def in_exercise(exercise: int | None) -> sa.ColumnElement[bool]:
    """Incidents of one training exercise, or (None) of the live city only."""
    if exercise is None:
        return IncidentRow.exercise_id.is_(None)
    return IncidentRow.exercise_id == exercise


def list_incidents(
    db: Database, filters: Filters | None = None, *, limit: int | None = DEFAULT_LIMIT
) -> list[Incident]:
    """Incidents matching the filters, newest first (at most `limit`; None: all)."""
    query = sa.select(IncidentRow).where(*(filters or Filters()).where()).order_by(IncidentRow.id.desc())
    if limit is not None:
        query = query.limit(limit)
    with db.read() as session:
        return [to_incident(row) for row in session.scalars(query)]


def change_marker(db: Database, exercise: int | None = None) -> str:
    """A short text that changes whenever an incident (live, or of one exercise) is opened or changed (newest id and
    newest update)."""
    query = sa.select(sa.func.max(IncidentRow.id), sa.func.max(IncidentRow.updated_at), sa.func.count()).where(
        in_exercise(exercise)
    )
    with db.read() as session:
        newest, updated, count = session.execute(query).one()
    return f"{newest or 0}:{count}:{updated.isoformat() if updated else ''}"


@dataclass(frozen=True)
class WallSummary:
    """What the wall shows of incidents: the ongoing open ones by severity, how many of them are overdue, two short
    lists, and apart, quietly, how many are back to normal (their condition cleared) and wait to be resolved."""

    open_by_severity: dict[str, int]
    overdue: int
    newest_critical: list[Incident] = field(default_factory=list)
    overdue_list: list[Incident] = field(default_factory=list)
    back_to_normal: int = 0

    @property
    def open_total(self) -> int:
        """Open incidents of any severity."""
        return sum(self.open_by_severity.values())

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "open_by_severity": self.open_by_severity,
            "overdue": self.overdue,
            "newest_critical": [i.as_json() for i in self.newest_critical],
            "overdue_list": [i.as_json() for i in self.overdue_list],
        }


def open_by_severity(db: Database, exercise: int | None = None) -> dict[str, int]:
    """The open incidents (someone still has to act; live, or of one exercise) counted by severity, every severity
    present."""
    is_open = sa.and_(IncidentRow.status.in_([s.value for s in OPEN_STATUSES]), in_exercise(exercise))
    with db.read() as session:
        counts = dict(
            session.execute(
                sa.select(IncidentRow.severity, sa.func.count()).where(is_open).group_by(IncidentRow.severity)
            ).all()
        )
    return {s: int(counts.get(s, 0)) for s in SEVERITY_ORDER}


def wall_summary(db: Database, *, items: int = WALL_LIST, exercise: int | None = None) -> WallSummary:
    """The ongoing open incidents counted by severity, the newest critical ones and the overdue ones (a few each),
    and how many open ones are back to normal, of the live city or of one exercise: an incident whose condition
    cleared is no emergency any more, so it neither counts nor is listed with them (it still waits for a person, or
    for the engine, to resolve it)."""
    still_open = sa.and_(IncidentRow.status.in_([s.value for s in OPEN_STATUSES]), in_exercise(exercise))
    cleared = IncidentRow.condition == "cleared"
    back_to_normal = sa.and_(still_open, cleared)
    is_open = sa.and_(still_open, ~cleared)
    is_overdue = sa.or_(IncidentRow.ack_overdue, IncidentRow.resolve_overdue)
    with db.read() as session:
        normal = session.scalar(sa.select(sa.func.count()).where(back_to_normal)) or 0
        counts = dict(
            session.execute(
                sa.select(IncidentRow.severity, sa.func.count()).where(is_open).group_by(IncidentRow.severity)
            ).all()
        )
        overdue = session.scalar(sa.select(sa.func.count()).where(is_open, is_overdue)) or 0
        critical = session.scalars(
            sa.select(IncidentRow)
            .where(is_open, IncidentRow.severity == "critical")
            .order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())
            .limit(items)
        ).all()
        late = session.scalars(
            sa.select(IncidentRow)
            .where(is_open, is_overdue)
            .order_by(IncidentRow.opened_at, IncidentRow.id)
            .limit(items)
        ).all()
        return WallSummary(
            open_by_severity={s: int(counts.get(s, 0)) for s in SEVERITY_ORDER},
            overdue=int(overdue),
            newest_critical=[to_incident(r) for r in critical],
            overdue_list=[to_incident(r) for r in late],
            back_to_normal=int(normal),
        )
