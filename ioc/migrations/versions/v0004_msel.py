"""Training exercises' MSEL: the injects each exercise sent (once per exercise and inject, on its clock) and the
rating each objective earned (HSEEP's P, S, M, U), kept when the exercise stops.

Revision ID: 0004
Revises: 0003
Created: 2027-02-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

KINDS = ("message", "episode", "contingency")
RATINGS = ("P", "S", "M", "U")


def _json() -> sa.types.TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL."""
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _time(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values)


def upgrade() -> None:
    """Create the exercise_injects and exercise_results tables."""
    op.create_table(
        "exercise_injects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exercise_id", sa.Integer(), nullable=False),
        sa.Column("inject", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("objective", sa.String(64), nullable=True),
        _time("sent_at"),
        sa.Column("sender", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("text_vi", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exercise_injects")),
        sa.ForeignKeyConstraint(
            ["exercise_id"], ["exercises.id"], name=op.f("fk_exercise_injects_exercise_id_exercises")
        ),
        sa.UniqueConstraint("exercise_id", "inject", name=op.f("uq_exercise_injects_exercise_id_inject")),
        sa.CheckConstraint(f"kind IN ({_listed(KINDS)})", name=op.f("ck_exercise_injects_kind")),
    )
    op.create_index(op.f("ix_exercise_injects_exercise_id"), "exercise_injects", ["exercise_id"])
    op.create_table(
        "exercise_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exercise_id", sa.Integer(), nullable=False),
        sa.Column("objective", sa.String(64), nullable=False),
        sa.Column("name_vi", sa.String(300), nullable=False),
        sa.Column("name_en", sa.String(300), nullable=False),
        sa.Column("rating", sa.String(1), nullable=True),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("details", _json(), nullable=False),
        _time("scored_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exercise_results")),
        sa.ForeignKeyConstraint(
            ["exercise_id"], ["exercises.id"], name=op.f("fk_exercise_results_exercise_id_exercises")
        ),
        sa.UniqueConstraint("exercise_id", "objective", name=op.f("uq_exercise_results_exercise_id_objective")),
        sa.CheckConstraint(f"rating IN ({_listed(RATINGS)})", name=op.f("ck_exercise_results_rating")),
    )
    op.create_index(op.f("ix_exercise_results_exercise_id"), "exercise_results", ["exercise_id"])


def downgrade() -> None:
    """Drop both tables (their rows with them)."""
    op.drop_index(op.f("ix_exercise_results_exercise_id"), table_name="exercise_results")
    op.drop_table("exercise_results")
    op.drop_index(op.f("ix_exercise_injects_exercise_id"), table_name="exercise_injects")
    op.drop_table("exercise_injects")
