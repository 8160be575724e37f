"""The audit log: who did what to which record, when, from where, with the record before and after.

Rows are only ever added, inside the transaction of the change they describe (`record`), so a change and its
audit row are committed together or not at all; database triggers refuse UPDATE and DELETE on the table
(`audit_log`, declared here, migrated by `ioc/migrations/versions/v0001_accounts_tokens_audit.py`), but for the rows
made in a training exercise (`exercise_id` set), which its reset deletes (`v0003_exercises.py`). Every package
that changes records writes its audit rows through `record`, so the table lives in the core beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from ioc.db import Base, Database, JSONDocument, utcnow

MAX_ADDRESS: Final = 64
MAX_ACTOR: Final = 128
MAX_OBJECT_ID: Final = 64


class AuditRow(Base):
    """One entry of the append-only audit log (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str] = mapped_column(sa.String(32))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    address: Mapped[str | None] = mapped_column(sa.String(64))
    exercise_id: Mapped[int | None] = mapped_column(index=True)  # a row made in this training exercise


sa.Index("ix_audit_log_object", AuditRow.object_type, AuditRow.object_id)


@dataclass(frozen=True)
class AuditEntry:
    """One audit row as plain data."""

    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    address: str | None


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    address: str | None = None,
    exercise_id: int | None = None,
) -> None:
    """Add an audit row to the caller's transaction (never commits by itself); `exercise_id` marks a row made in a
    training exercise (kept out of live figures, removed with the exercise's reset)."""
    session.add(
        AuditRow(
            at=utcnow(),
            actor=actor[:MAX_ACTOR],
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id)[:MAX_OBJECT_ID],
            before=None if before is None else dict(before),
            after=None if after is None else dict(after),
            address=None if address is None else address[:MAX_ADDRESS],
            exercise_id=exercise_id,
        )
    )


def to_entry(row: AuditRow) -> AuditEntry:
    """An audit row as the plain entry the pages, the CLI and scoring read."""
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        before=row.before,
        after=row.after,
        address=row.address,
    )


def entries(
    db: Database,
    *,
    limit: int = 100,
    object_type: str | None = None,
    object_id: str | int | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """The newest audit rows first, optionally only those of one object type, object or action."""
    query = sa.select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    if object_type is not None:
        query = query.where(AuditRow.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditRow.object_id == str(object_id))
    if action is not None:
        query = query.where(AuditRow.action == action)
    with db.read() as session:
        rows = session.scalars(query).all()
        return [to_entry(row) for row in rows]
