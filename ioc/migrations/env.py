"""Alembic environment: runs the migrations on the connection `ioc.db.Database.upgrade` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from ioc.db import MIGRATION_LOCK_ID
from ioc.errors import DatabaseError
from ioc.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise DatabaseError("migrations run through `ioc db upgrade` (ioc.db.Database.upgrade), which gives a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Held until commit: a second process starting at the same moment waits, then finds nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_ID})
    # The revision found once the lock is held: what this run really upgraded from (Database.upgrade reports it).
    context.config.attributes["before"] = context.get_context().get_current_revision()
    context.run_migrations()
