"""The incident tables: incidents, the alerts the engine applied and the conditions it waits on (SQLAlchemy 2 typed
ORM on the one metadata of `ioc.db.Base`; their migration is `ioc/migrations/versions/v0002_incidents.py`, their
`exercise_id` columns `v0003_exercises.py`). An exercise's open and condition keys start with `x<id>:`."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ioc.db import Base, JSONDocument


class IncidentRow(Base):
    """An incident from alert to close. `open_key` (type:place) is set while an engine-made incident is open, so a
    unique index lets at most one open incident exist per place and type; `version` makes every change optimistic."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(32), index=True)
    source: Mapped[str] = mapped_column(sa.String(16))  # engine | manual
    place: Mapped[str] = mapped_column(sa.String(64))  # sensor or segment id
    place_kind: Mapped[str] = mapped_column(sa.String(16))  # sensor | segment
    place_name: Mapped[str] = mapped_column(sa.String(200))
    ward: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    lat: Mapped[float] = mapped_column(sa.Float())
    lon: Mapped[float] = mapped_column(sa.Float())
    open_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    severity: Mapped[str] = mapped_column(sa.String(16))
    peak_severity: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    description: Mapped[str] = mapped_column(sa.Text(), default="")
    condition: Mapped[str] = mapped_column(sa.String(16))  # active | cleared | none (opened by hand)
    condition_at: Mapped[datetime | None]
    detected_at: Mapped[datetime]  # event time of the first alert (city clock); opened by hand: when opened
    opened_at: Mapped[datetime] = mapped_column(index=True)
    opened_by: Mapped[str] = mapped_column(sa.String(128))
    acknowledged_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    unit: Mapped[str | None] = mapped_column(sa.String(64))
    ack_due_at: Mapped[datetime]
    resolve_due_at: Mapped[datetime]
    ack_overdue: Mapped[bool] = mapped_column(default=False)
    resolve_overdue: Mapped[bool] = mapped_column(default=False)
    alert_count: Mapped[int] = mapped_column(default=0)
    last_alert_at: Mapped[datetime | None]
    cameras: Mapped[list[str]] = mapped_column(JSONDocument)
    version: Mapped[int] = mapped_column()
    exercise_id: Mapped[int | None] = mapped_column(index=True)  # made in this training exercise; None: live

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it as is)


class IncidentAlertRow(Base):
    """An alert the incident engine has applied, keyed by its stream entry: applying it again is refused by the
    unique key, which makes a redelivered alert (after a crash before XACK) a no-op."""

    __tablename__ = "incident_alerts"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    entry: Mapped[str] = mapped_column(sa.String(120), unique=True)  # namespace/domain/stream entry id
    incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(48))
    place: Mapped[str] = mapped_column(sa.String(64))
    old: Mapped[str] = mapped_column(sa.String(32))
    new: Mapped[str] = mapped_column(sa.String(32))
    severity: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime]  # event time
    received_at: Mapped[datetime]


class IncidentConditionRow(Base):
    """A condition that opens an incident only if it lasts (congestion, a device offline) or repeats (speed
    violations at one camera): since when, and for bursts the event times seen in the window."""

    __tablename__ = "incident_conditions"

    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)  # type:place
    type: Mapped[str] = mapped_column(sa.String(32))
    place: Mapped[str] = mapped_column(sa.String(64))
    since: Mapped[datetime] = mapped_column(index=True)  # event time the condition began
    severity: Mapped[str] = mapped_column(sa.String(16))
    times: Mapped[list[float]] = mapped_column(JSONDocument)  # bursts: event times in the window
    lat: Mapped[float] = mapped_column(sa.Float())
    lon: Mapped[float] = mapped_column(sa.Float())
    exercise_id: Mapped[int | None] = mapped_column(index=True)  # a condition of this exercise; None: live
