"""Incidents, the alerts the incident engine applied, and the conditions it waits on.

Revision ID: 0002
Revises: 0001
Created: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL."""
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _time(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the three incident tables and their indexes."""
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("place", sa.String(64), nullable=False),
        sa.Column("place_kind", sa.String(16), nullable=False),
        sa.Column("place_name", sa.String(200), nullable=False),
        sa.Column("ward", sa.String(64), nullable=True),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("open_key", sa.String(100), nullable=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("peak_severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("condition", sa.String(16), nullable=False),
        _time("condition_at", True),
        _time("detected_at"),
        _time("opened_at"),
        sa.Column("opened_by", sa.String(128), nullable=False),
        _time("acknowledged_at", True),
        _time("dispatched_at", True),
        _time("resolved_at", True),
        _time("closed_at", True),
        _time("updated_at"),
        sa.Column("unit", sa.String(64), nullable=True),
        _time("ack_due_at"),
        _time("resolve_due_at"),
        sa.Column("ack_overdue", sa.Boolean(), nullable=False),
        sa.Column("resolve_overdue", sa.Boolean(), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        _time("last_alert_at", True),
        sa.Column("cameras", _json(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("open_key", name=op.f("uq_incidents_open_key")),
    )
    for column in ("type", "ward", "status", "opened_at"):
        op.create_index(op.f(f"ix_incidents_{column}"), "incidents", [column])

    op.create_table(
        "incident_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry", sa.String(120), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.Column("place", sa.String(64), nullable=False),
        sa.Column("old", sa.String(32), nullable=False),
        sa.Column("new", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        _time("at"),
        _time("received_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_alerts")),
        sa.UniqueConstraint("entry", name=op.f("uq_incident_alerts_entry")),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_alerts_incident_id_incidents")
        ),
    )
    op.create_index(op.f("ix_incident_alerts_incident_id"), "incident_alerts", ["incident_id"])

    op.create_table(
        "incident_conditions",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("place", sa.String(64), nullable=False),
        _time("since"),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("times", _json(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_incident_conditions")),
    )
    op.create_index(op.f("ix_incident_conditions_since"), "incident_conditions", ["since"])


def downgrade() -> None:
    """Drop the incident tables (their audit rows stay in the append-only log)."""
    op.drop_table("incident_conditions")
    op.drop_table("incident_alerts")
    op.drop_table("incidents")
