"""The exercises table (SQLAlchemy 2 typed ORM on the one metadata of `ioc.db.Base`; its migration is
`ioc/migrations/versions/v0003_exercises.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ioc.db import Base, JSONDocument

EXERCISE_STATUSES: Final = ("created", "running", "paused", "stopped")


class ExerciseRow(Base):
    """One training exercise: what it plays (scenario, seed, speed), where it stands (status, and the simulated time
    its scenario reached, so a restarted runner goes on from there), who made it and who trains in it."""

    __tablename__ = "exercises"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    scenario: Mapped[str] = mapped_column(sa.String(64))
    seed: Mapped[int] = mapped_column(sa.BigInteger())
    speed: Mapped[float] = mapped_column(sa.Float())
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    sim_start: Mapped[float | None] = mapped_column(sa.Float())  # simulated epoch s where the scenario begins
    position: Mapped[float | None] = mapped_column(sa.Float())  # simulated epoch s the scenario reached
    finished: Mapped[bool] = mapped_column(default=False)  # the scenario played to its end
    created_by: Mapped[str] = mapped_column(sa.String(128))
    trainees: Mapped[list[int]] = mapped_column(JSONDocument)  # account ids
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]  # last started or resumed (wall clock)
    stopped_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column()

    __table_args__ = (
        sa.CheckConstraint(f"status IN ({', '.join(repr(s) for s in EXERCISE_STATUSES)})", name="status"),
    )
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it as is)
