"""Display tokens: long random secrets that let an unattended wall screen in without a login form.

The secret is shown once, when it is made (`create_display_token`); the database keeps only its SHA-256, so a
copy of the database lets no one in. `verify_display_token` is a single indexed lookup (cheap enough for every
tick of every wall) and refuses a revoked token. Creation and revocation are audited in their own transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from ioc import audit
from ioc.db import Database, utcnow
from ioc.errors import AlreadyExists, InvalidInput, NotFound, StaleVersion
from ioc.identity.changes import identity_changed
from ioc.identity.tables import DisplayTokenRow
from ioc.inputs import valid_id
from ioc.settings import Settings

TOKEN_BYTES: Final = 32  # secrets.token_urlsafe(32): 43 characters, 256 bits
MAX_TOKEN_LENGTH: Final = 256  # anything longer is not one of ours; refused before hashing
NAME_RULE: Final = "1 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
OBJECT_TYPE: Final = "display_token"
DISPLAY_PATH: Final = "/display"


@dataclass(frozen=True)
class DisplayToken:
    """A display token's record (never the secret)."""

    id: int
    name: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the token still lets a wall in."""
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        """The record as JSON-ready data (the audit log, `ioc display-token list --json`)."""
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
        }


def token_hash(token: str) -> str:
    """The SHA-256 of a token, hex: what the database stores and looks up."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _to_token(row: DisplayTokenRow) -> DisplayToken:
    """The plain-data view of a row."""
    return DisplayToken(
        id=row.id, name=row.name, created_at=row.created_at, created_by=row.created_by, revoked_at=row.revoked_at
    )


def check_token_name(name: str) -> str:
    """The name if it follows the rule, else InvalidInput saying the rule (stricter than ioc.inputs' rule for texts)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"invalid display token name {str(name)[:80]!r}: {NAME_RULE}")
    return name


def create_display_token(
    db: Database, name: str, *, actor: str, address: str | None = None
) -> tuple[DisplayToken, str]:
    """Make a token for a wall: its record and the secret, which is never available again."""
    check_token_name(name)
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    active = sa.select(DisplayTokenRow).where(DisplayTokenRow.name == name, DisplayTokenRow.revoked_at.is_(None))
    try:
        with db.transaction() as session:
            if session.scalars(active).first() is not None:
                raise AlreadyExists(f"a display token named {name!r} exists already (revoke it first)")
            row = DisplayTokenRow(name=name, token_hash=token_hash(secret), created_at=utcnow(), created_by=actor)
            session.add(row)
            session.flush()
            token = _to_token(row)
            audit.record(
                session,
                actor=actor,
                action="display_token.create",
                object_type=OBJECT_TYPE,
                object_id=row.id,
                after=token.public(),
                address=address,
            )
    except sa_exc.IntegrityError:
        if not any(token.name == name for token in list_display_tokens(db, include_revoked=False)):
            raise  # some other constraint failed
        raise AlreadyExists(f"a display token named {name!r} exists already (revoke it first)") from None
    identity_changed(db)
    return token, secret


def verify_display_token(db: Database, token: str | None) -> DisplayToken | None:
    """The active token this secret belongs to, or None (unknown, malformed or revoked)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    query = sa.select(DisplayTokenRow).where(DisplayTokenRow.token_hash == token_hash(token))
    with db.read() as session:
        row = session.scalars(query).one_or_none()
        return None if row is None or row.revoked_at is not None else _to_token(row)


def get_display_token(db: Database, token_id: int) -> DisplayToken | None:
    """The active token with this id (what a wall screen's session stores), or None (unknown, revoked, or a value
    that cannot be an id): one query by primary key."""
    if valid_id(token_id) is None:
        return None
    with db.read() as session:
        row = session.get(DisplayTokenRow, token_id)
        return None if row is None or row.revoked_at is not None else _to_token(row)


def list_display_tokens(db: Database, *, include_revoked: bool = True) -> list[DisplayToken]:
    """Display tokens by name, the active one of a name before its revoked predecessors."""
    query = sa.select(DisplayTokenRow).order_by(
        DisplayTokenRow.name, DisplayTokenRow.revoked_at.is_not(None), DisplayTokenRow.id.desc()
    )
    if not include_revoked:
        query = query.where(DisplayTokenRow.revoked_at.is_(None))
    with db.read() as session:
        return [_to_token(row) for row in session.scalars(query).all()]


def revoke_display_token(
    db: Database, name: str, *, actor: str, address: str | None = None, expected_id: int | None = None
) -> DisplayToken:
    """Revoke the active token of that name: its wall is refused from its next request on. With `expected_id`
    (the token a page showed), StaleVersion if the active token of that name is another one: the shown one was
    revoked and a new one made under its name meanwhile."""
    # Locked: a second revoke at the same moment waits, then finds the token revoked (PostgreSQL checks the WHERE
    # again on the locked row) instead of revoking and auditing it twice.
    query = (
        sa.select(DisplayTokenRow)
        .where(DisplayTokenRow.name == name, DisplayTokenRow.revoked_at.is_(None))
        .with_for_update()
    )
    with db.transaction() as session:
        row = session.scalars(query).one_or_none()
        if row is None:
            raise NotFound(f"no active display token named {name[:80]!r}")
        if expected_id is not None and row.id != expected_id:
            raise StaleVersion(f"display token {name[:80]!r} was revoked and made again meanwhile; read it again")
        before = _to_token(row).public()
        row.revoked_at = utcnow()
        session.flush()
        token = _to_token(row)
        audit.record(
            session,
            actor=actor,
            action="display_token.revoke",
            object_type=OBJECT_TYPE,
            object_id=row.id,
            before=before,
            after=token.public(),
            address=address,
        )
    identity_changed(db)  # every web process refuses its wall from the next request on
    return token


def display_url(settings: Settings, token: str) -> str:
    """The address a wall opens with its token: `<IOC_PUBLIC_URL>/display?token=<token>`."""
    return f"{settings.public_base_url}{DISPLAY_PATH}?token={quote(token, safe='')}"
