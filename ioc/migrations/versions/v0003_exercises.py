"""Training exercises, and the exercise each incident, pending condition and audit row was made in (NULL: live).

The audit log stays append-only for every live row; only a row made in an exercise (`exercise_id` set) may be
deleted, by the exercise's reset. Updates and TRUNCATE stay refused for all.

Revision ID: 0003
Revises: 0002
Created: 2027-01-10
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APPEND_ONLY = "audit_log is append-only"
STATUSES = ("created", "running", "paused", "stopped")
MARKED = ("incidents", "incident_conditions", "audit_log")


def _json() -> sa.types.TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL."""
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _time(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _audit_triggers(exercise_rows_deletable: bool) -> None:
    """(Re)make the triggers that keep the audit log append-only, letting exercise rows be deleted or not."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    allow = "IF TG_OP = 'DELETE' THEN IF OLD.exercise_id IS NOT NULL THEN RETURN OLD; END IF; END IF; "
    if postgresql:
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {allow if exercise_rows_deletable else ''}RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
        return
    op.execute("DROP TRIGGER audit_log_no_delete")
    when = " WHEN OLD.exercise_id IS NULL" if exercise_rows_deletable else ""
    op.execute(
        f"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log{when} "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
    )


def upgrade() -> None:
    """Create the exercises table, mark incidents, conditions and audit rows with their exercise, and let the audit
    log's exercise rows be deleted."""
    op.create_table(
        "exercises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("scenario", sa.String(64), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("speed", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sim_start", sa.Float(), nullable=True),
        sa.Column("position", sa.Float(), nullable=True),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("trainees", _json(), nullable=False),
        _time("created_at"),
        _time("started_at", True),
        _time("stopped_at", True),
        _time("updated_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exercises")),
        sa.CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})", name=op.f("ck_exercises_status")),
    )
    op.create_index(op.f("ix_exercises_status"), "exercises", ["status"])
    for table in MARKED:
        op.add_column(table, sa.Column("exercise_id", sa.Integer(), nullable=True))
        op.create_index(op.f(f"ix_{table}_exercise_id"), table, ["exercise_id"])
    _audit_triggers(exercise_rows_deletable=True)


def downgrade() -> None:
    """Make the audit log wholly append-only again and drop what the upgrade added (exercise rows are kept, unmarked:
    reset the exercises first)."""
    _audit_triggers(exercise_rows_deletable=False)
    for table in MARKED:
        op.drop_index(op.f(f"ix_{table}_exercise_id"), table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("exercise_id")
    op.drop_index(op.f("ix_exercises_status"), table_name="exercises")
    op.drop_table("exercises")
