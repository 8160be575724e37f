"""Injects a trainer places on the map (a flood point, a crash, a device fault): each inject row may carry the event
it adds to the exercise's simulation (`episode`, JSON), so the exercise runner plays it, again after a restart.

Revision ID: 0005
Revises: 0004
Created: 2027-03-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL."""
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    """Add exercise_injects.episode (null for the MSEL's injects and messages)."""
    with op.batch_alter_table("exercise_injects") as batch:
        batch.add_column(sa.Column("episode", _json(), nullable=True))


def downgrade() -> None:
    """Drop exercise_injects.episode."""
    with op.batch_alter_table("exercise_injects") as batch:
        batch.drop_column("episode")
