"""The exercises tables (SQLAlchemy 2 typed ORM on the one metadata of `ioc.db.Base`): the exercises (migration
`ioc/migrations/versions/v0003_exercises.py`), the injects each sent and the ratings each earned (`v0004_msel.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

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


INJECT_KINDS: Final = ("message", "episode", "contingency")
RATINGS: Final = ("P", "S", "M", "U")


class ExerciseInjectRow(Base):
    """An inject of the exercise's MSEL as it was sent: once per exercise and inject (the unique key makes a
        restarted runner's second attempt a no-op), at a time on the exercise's clock. Messages (and contingencies)
        carry who sends them, to whom and their text in both languages; an event inject names its episode in `text_en`.
    An inject a trainer placed on the map (`ioc/exercises/map_injects.py`) carries the event it adds in `episode`
    (`v0005_map_injects.py`), which the exercise runner plays."""

    __tablename__ = "exercise_injects"

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(sa.ForeignKey("exercises.id"), index=True)
    inject: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))
    objective: Mapped[str | None] = mapped_column(sa.String(64))
    sent_at: Mapped[datetime]  # on the exercise's clock
    sender: Mapped[str] = mapped_column(sa.String(200), default="")
    recipient: Mapped[str] = mapped_column(sa.String(200), default="")
    text_vi: Mapped[str] = mapped_column(sa.Text(), default="")
    text_en: Mapped[str] = mapped_column(sa.Text(), default="")
    episode: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)  # a map inject's event

    __table_args__ = (
        sa.UniqueConstraint("exercise_id", "inject"),
        sa.CheckConstraint(f"kind IN ({', '.join(repr(k) for k in INJECT_KINDS)})", name="kind"),
    )


class ExerciseResultRow(Base):
    """How one objective of an exercise was performed (HSEEP's rating P, S, M or U), written when the exercise stops
    (again if it stops again), so trainers can compare teams and months; `details` holds each expected response."""

    __tablename__ = "exercise_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(sa.ForeignKey("exercises.id"), index=True)
    objective: Mapped[str] = mapped_column(sa.String(64))
    name_vi: Mapped[str] = mapped_column(sa.String(300))
    name_en: Mapped[str] = mapped_column(sa.String(300))
    rating: Mapped[str | None] = mapped_column(sa.String(1))  # None: nothing it expects came due
    on_time: Mapped[int] = mapped_column(default=0)
    late: Mapped[int] = mapped_column(default=0)
    missed: Mapped[int] = mapped_column(default=0)
    details: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    scored_at: Mapped[datetime]  # wall clock

    __table_args__ = (
        sa.UniqueConstraint("exercise_id", "objective"),
        sa.CheckConstraint(f"rating IN ({', '.join(repr(r) for r in RATINGS)})", name="rating"),
    )
