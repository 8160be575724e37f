"""The identity tables: accounts and display tokens (SQLAlchemy 2 typed ORM on the one metadata of `ioc.db.Base`;
their migration is `ioc/migrations/versions/v0001_accounts_tokens_audit.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ioc.db import Base
from ioc.identity.roles import Role

ROLE_VALUES: Final = tuple(role.value for role in Role)


class AccountRow(Base):
    """A person's (or a wall's) login: user name unique whatever its case, role, argon2 hash, version."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64))
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column()

    __table_args__ = (sa.CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLE_VALUES)})", name="role"),)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it as is)


sa.Index("uq_accounts_username_lower", sa.func.lower(AccountRow.username), unique=True)


class DisplayTokenRow(Base):
    """A wall screen's access token: only its SHA-256 is kept; a name is unique among the tokens not revoked."""

    __tablename__ = "display_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(sa.String(128))
    revoked_at: Mapped[datetime | None]


sa.Index(
    "uq_display_tokens_name_active",
    DisplayTokenRow.name,
    unique=True,
    sqlite_where=DisplayTokenRow.revoked_at.is_(None),
    postgresql_where=DisplayTokenRow.revoked_at.is_(None),
)
