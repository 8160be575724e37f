"""Accounts: create, list, change and authenticate, each change committed together with its audit row.

Passwords are hashed with argon2id (argon2-cffi) and never logged or returned; only `Account` (no hash) leaves
this module. Every function that changes an account runs ONE transaction holding the change and its audit row
(actor, before and after), and takes an optional `expected_version` for optimistic concurrency: a form showing
version 3 cannot overwrite a change made meanwhile. `authenticate` is rate-limited through Redis
(`ioc.identity.ratelimit.LoginLimiter`) and audits every success and failure; `record_logout` audits a logout.
Roles and permissions live in `ioc.identity.roles` (re-exported here).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, Final, Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ioc import audit
from ioc.db import Database, utcnow
from ioc.errors import AlreadyExists, InvalidInput, LastAdmin, NotFound, StaleVersion
from ioc.identity.changes import identity_changed
from ioc.identity.ratelimit import LoginLimiter
from ioc.identity.roles import ROLE_PERMISSIONS, Permission, Role, may, parse_role
from ioc.identity.tables import AccountRow
from ioc.inputs import text_problem, valid_id

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "ROLE_PERMISSIONS",
    "Account",
    "LoginFailure",
    "LoginRefused",
    "Permission",
    "Role",
    "authenticate",
    "check_password_rule",
    "create_account",
    "create_default_accounts",
    "disable",
    "enable",
    "find_account",
    "get_account",
    "list_accounts",
    "may",
    "parse_role",
    "record_logout",
    "reset_password",
    "set_role",
]

MIN_PASSWORD_LENGTH: Final = 10
MAX_PASSWORD_LENGTH: Final = 1024  # hashing cost is fixed, but no one needs a megabyte
USERNAME_RULE: Final = "1 to 64 ASCII letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
# ASCII only, so lower() agrees between SQLite and PostgreSQL and the case-insensitive unique index holds.
_USERNAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
DEFAULT_PASSWORD_BYTES: Final = 12  # secrets.token_urlsafe(12): 16 characters, 96 bits
OBJECT_TYPE: Final = "account"
SYSTEM_ACTOR: Final = "system"

_hasher: Final = PasswordHasher()  # argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile)


@dataclass(frozen=True)
class Account:
    """An account as plain data (never its password hash); `version` changes with every change to it."""

    id: int
    username: str
    role: Role
    disabled: bool
    created_at: datetime
    updated_at: datetime
    version: int

    def may(self, permission: Permission) -> bool:
        """Whether this account may do that (a disabled account may do nothing)."""
        return not self.disabled and may(self.role, permission)

    def public(self) -> dict[str, Any]:
        """The account as JSON-ready data (the audit log's before/after, `ioc users list --json`)."""
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role.value,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }


class LoginFailure(StrEnum):
    """Why a login was refused (for the audit log; show people only `LoginRefused.shown`)."""

    UNKNOWN_USER = "unknown_user"
    WRONG_PASSWORD = "wrong_password"
    DISABLED = "disabled"
    RATE_LIMITED = "rate_limited"


ShownFailure = Literal["invalid_credentials", "disabled", "rate_limited"]


@dataclass(frozen=True)
class LoginRefused:
    """A refused login: the exact reason, and what a login page may tell the person."""

    reason: LoginFailure
    retry_after_s: float | None = None

    @property
    def shown(self) -> ShownFailure:
        """What to show: an unknown user and a wrong password look the same; 'disabled' only after a right password."""
        if self.reason in (LoginFailure.UNKNOWN_USER, LoginFailure.WRONG_PASSWORD):
            return "invalid_credentials"
        return "disabled" if self.reason is LoginFailure.DISABLED else "rate_limited"


def _to_account(row: AccountRow) -> Account:
    """The plain-data view of a row."""
    return Account(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        disabled=row.disabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def check_username(username: str) -> str:
    """The user name if it follows the rule, else InvalidInput saying the rule (its ASCII pattern is stricter than
    ioc.inputs' rule for texts: no control, bidi or surrogate character can match it)."""
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidInput(f"invalid user name {str(username)[:80]!r}: {USERNAME_RULE}")
    return username


def check_password_rule(password: str, username: str | None = None) -> None:
    """Raise InvalidInput unless the password has MIN_PASSWORD_LENGTH to MAX_PASSWORD_LENGTH characters and is
    not the user name (the password itself is never part of the message). It is any text but a control character,
    a lone surrogate (it could not be hashed) or a bidi control (ioc.inputs' rule; not normalised: it is hashed as
    typed)."""
    if not isinstance(password, str):
        raise InvalidInput(f"the password must be a text, not {type(password).__name__}")
    if text_problem(password, multiline=False):
        raise InvalidInput("the password holds a control, bidi control or lone surrogate character")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise InvalidInput("the password must not be only spaces")
    if username is not None and password.lower() == username.lower():
        raise InvalidInput("the password must not be the user name")


def hash_password(password: str) -> str:
    """An argon2id hash of the password (salted; encoded with its parameters)."""
    return _hasher.hash(password)


def _password_matches(password_hash: str, password: str) -> bool:
    """Whether the password matches the stored hash (False for a damaged hash, never an exception)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    """A hash to verify against for an unknown user, so it takes as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _row_by_name(session: Session, username: str) -> AccountRow | None:
    """The row of a user name, whatever its case."""
    return session.scalars(
        sa.select(AccountRow).where(sa.func.lower(AccountRow.username) == username.strip().lower())
    ).one_or_none()


def _existing(session: Session, username: str, expected_version: int | None) -> AccountRow:
    """The row to change: NotFound if missing, StaleVersion if it changed since the caller read it."""
    row = _row_by_name(session, username)
    if row is None:
        raise NotFound(f"no account named {username[:80]!r}")
    if expected_version is not None and row.version != expected_version:
        raise StaleVersion(
            f"account {row.username!r} changed meanwhile (version {row.version}, expected {expected_version})"
        )
    return row


def _lock_enabled_admins(session: Session) -> list[int]:
    """The ids of the enabled admins, each row locked until the transaction ends (SELECT ... FOR UPDATE, in id
    order so two callers never deadlock). A concurrent demotion or disable waits here and then counts what the
    first one left; on SQLite the write transaction already holds the database's write lock (BEGIN IMMEDIATE)."""
    query = (
        sa.select(AccountRow.id)
        .where(AccountRow.role == Role.ADMIN.value, AccountRow.disabled.is_(False))
        .order_by(AccountRow.id)
        .with_for_update()
    )
    return list(session.scalars(query))


def _keep_an_admin(session: Session, row: AccountRow, what: str) -> None:
    """Refuse to disable or demote the last enabled admin (nobody could manage accounts on the web then). The
    other admins are counted locked, so they stay admins until this commits: two admins demoting each other at
    once cannot both pass. If `row` itself changed since it was read, its versioned UPDATE fails (StaleVersion)."""
    if row.role != Role.ADMIN.value or row.disabled:
        return
    if not [admin for admin in _lock_enabled_admins(session) if admin != row.id]:
        raise LastAdmin(f"cannot {what} {row.username!r}: it is the last enabled admin")


def _change(
    db: Database,
    username: str,
    *,
    actor: str,
    action: str,
    expected_version: int | None,
    address: str | None,
    apply: Any,
    after_extra: dict[str, Any] | None = None,
) -> Account:
    """Load, change (by `apply(session, row)`), audit and commit one account in one transaction; then announce it
    (its sessions end at their next request, in every web process)."""
    try:
        with db.transaction() as session:
            row = _existing(session, username, expected_version)
            before = _to_account(row).public()
            if apply(session, row) is False:
                return _to_account(row)  # nothing to change: no new version, no audit row
            row.updated_at = utcnow()
            session.flush()  # writes the row (version checked and bumped) before its audit row
            account = _to_account(row)
            audit.record(
                session,
                actor=actor,
                action=action,
                object_type=OBJECT_TYPE,
                object_id=row.id,
                before=before,
                after={**account.public(), **(after_extra or {})},
                address=address,
            )
    except StaleDataError:
        raise StaleVersion(f"account {username[:80]!r} changed meanwhile; read it again") from None
    identity_changed(db)
    return account


def create_account(
    db: Database, username: str, role: Role | str, password: str, *, actor: str, address: str | None = None
) -> Account:
    """Create an account (user name unique whatever its case); AlreadyExists or InvalidInput otherwise."""
    check_username(username)
    role = parse_role(role)
    check_password_rule(password, username)
    password_hash = hash_password(password)
    now = utcnow()
    try:
        with db.transaction() as session:
            if _row_by_name(session, username) is not None:
                raise AlreadyExists(f"an account named {username!r} exists already")
            row = AccountRow(
                username=username,
                role=role.value,
                password_hash=password_hash,
                disabled=False,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()  # the account's id, and its insert before its audit row
            account = _to_account(row)
            audit.record(
                session,
                actor=actor,
                action="account.create",
                object_type=OBJECT_TYPE,
                object_id=row.id,
                after=account.public(),
                address=address,
            )
    except sa_exc.IntegrityError:
        if find_account(db, username) is None:
            raise  # some other constraint failed
        # created by someone else between our check and our insert
        raise AlreadyExists(f"an account named {username!r} exists already") from None
    identity_changed(db)
    return account


def list_accounts(db: Database) -> list[Account]:
    """Every account, by user name."""
    with db.read() as session:
        rows = session.scalars(sa.select(AccountRow).order_by(sa.func.lower(AccountRow.username))).all()
        return [_to_account(row) for row in rows]


def get_account(db: Database, account_id: int) -> Account | None:
    """The account with this id (what a session stores), or None (also for a value that cannot be an id)."""
    if valid_id(account_id) is None:
        return None
    with db.read() as session:
        row = session.get(AccountRow, account_id)
        return None if row is None else _to_account(row)


def find_account(db: Database, username: str) -> Account | None:
    """The account with this user name, whatever its case, or None."""
    with db.read() as session:
        row = _row_by_name(session, username)
        return None if row is None else _to_account(row)


def set_role(
    db: Database,
    username: str,
    role: Role | str,
    *,
    actor: str,
    expected_version: int | None = None,
    address: str | None = None,
) -> Account:
    """Give an account another role (the last enabled admin keeps its role)."""
    new_role = parse_role(role)

    def apply(session: Session, row: AccountRow) -> bool:
        if row.role == new_role.value:
            return False
        if new_role is not Role.ADMIN:
            _keep_an_admin(session, row, f"make {new_role.value} of")
        row.role = new_role.value
        return True

    return _change(
        db,
        username,
        actor=actor,
        action="account.set_role",
        expected_version=expected_version,
        address=address,
        apply=apply,
    )


def disable(
    db: Database, username: str, *, actor: str, expected_version: int | None = None, address: str | None = None
) -> Account:
    """Disable an account: it can no longer log in, and sessions checking its version end (not the last admin)."""

    def apply(session: Session, row: AccountRow) -> bool:
        if row.disabled:
            return False
        _keep_an_admin(session, row, "disable")
        row.disabled = True
        return True

    return _change(
        db,
        username,
        actor=actor,
        action="account.disable",
        expected_version=expected_version,
        address=address,
        apply=apply,
    )


def enable(
    db: Database, username: str, *, actor: str, expected_version: int | None = None, address: str | None = None
) -> Account:
    """Enable a disabled account again."""

    def apply(_session: Session, row: AccountRow) -> bool:
        if not row.disabled:
            return False
        row.disabled = False
        return True

    return _change(
        db,
        username,
        actor=actor,
        action="account.enable",
        expected_version=expected_version,
        address=address,
        apply=apply,
    )


def reset_password(
    db: Database,
    username: str,
    password: str,
    *,
    actor: str,
    expected_version: int | None = None,
    address: str | None = None,
) -> Account:
    """Set a new password (the audit row says it changed, never what it is)."""
    check_password_rule(password, username)
    password_hash = hash_password(password)

    def apply(_session: Session, row: AccountRow) -> bool:
        row.password_hash = password_hash
        return True

    return _change(
        db,
        username,
        actor=actor,
        action="account.reset_password",
        expected_version=expected_version,
        address=address,
        apply=apply,
        after_extra={"password_changed": True},
    )


def _audit_name(username: str) -> str:
    """The typed user name as the audit log keeps it: itself when it could be a user name, else a placeholder
    (something else typed into the name field, perhaps a password, is not kept)."""
    name = username.strip()
    return name if _USERNAME.fullmatch(name) else "(not a user name)"


def authenticate(
    db: Database, limiter: LoginLimiter, username: str, password: str, address: str | None, device: str | None = None
) -> Account | LoginRefused:
    """Check a login: the Account, or LoginRefused with the reason; every outcome is audited, attempts are
    rate-limited per user name and per address, or per browser where the name signed in before (`device`, see
    ioc.identity.ratelimit; Redis errors propagate: no Redis, no login)."""
    wait_s = limiter.acquire(username, address, device)
    shown_name = _audit_name(username)
    if wait_s is not None:
        refused = LoginRefused(LoginFailure.RATE_LIMITED, retry_after_s=wait_s)
        with db.transaction() as session:
            audit.record(
                session,
                actor=shown_name,
                action="login.failure",
                object_type=OBJECT_TYPE,
                after={"reason": refused.reason.value},
                address=address,
            )
        return refused
    rehashed = False
    with db.transaction() as session:
        row = _row_by_name(session, username) if shown_name == username.strip() else None
        outcome: Account | LoginRefused
        if row is None:
            _password_matches(_dummy_hash(), password)
            outcome = LoginRefused(LoginFailure.UNKNOWN_USER)
        elif not _password_matches(row.password_hash, password):
            outcome = LoginRefused(LoginFailure.WRONG_PASSWORD)
        elif row.disabled:
            outcome = LoginRefused(LoginFailure.DISABLED)
        else:
            if _hasher.check_needs_rehash(row.password_hash):
                rehashed = _rehash(session, row, password)
            outcome = _to_account(row)
        if isinstance(outcome, Account):
            audit.record(
                session,
                actor=outcome.username,
                action="login.success",
                object_type=OBJECT_TYPE,
                object_id=outcome.id,
                address=address,
            )
        else:
            audit.record(
                session,
                actor=shown_name,
                action="login.failure",
                object_type=OBJECT_TYPE,
                object_id=None if row is None else row.id,
                after={"reason": outcome.reason.value},
                address=address,
            )
    if rehashed:
        identity_changed(db)  # a new version: the account's other sessions end, as with any change
    if isinstance(outcome, Account):
        limiter.succeeded(username, address, device)
    return outcome


def _rehash(session: Session, row: AccountRow, password: str) -> bool:
    """Hash a right password again with today's parameters (they were raised since it was hashed). Two logins at
    the same moment both find the old hash: the second one's versioned update finds the row changed and keeps the
    first one's hash, instead of failing the login. Whether this one changed the row."""
    try:
        with session.begin_nested():
            row.password_hash = hash_password(password)
            row.updated_at = utcnow()
    except StaleDataError:
        session.refresh(row)
        return False
    return True


def record_logout(db: Database, account: Account, address: str | None) -> None:
    """Audit a logout (the web layer ends the session itself)."""
    with db.transaction() as session:
        audit.record(
            session,
            actor=account.username,
            action="logout",
            object_type=OBJECT_TYPE,
            object_id=account.id,
            address=address,
        )


def create_default_accounts(db: Database, *, actor: str = SYSTEM_ACTOR) -> list[tuple[Account, str]]:
    """On the embedded database with no account yet, one account per role named after it with a random password;
    the (account, password) pairs to show once. Nothing on an external database or once any account exists."""
    if not db.embedded:
        return []
    made: list[tuple[Account, str]] = []
    try:
        with db.transaction() as session:  # on SQLite this holds the write lock: a concurrent start waits here
            if session.scalar(sa.select(sa.func.count()).select_from(AccountRow)):
                return []
            now = utcnow()
            for role in Role:
                password = secrets.token_urlsafe(DEFAULT_PASSWORD_BYTES)
                row = AccountRow(
                    username=role.value,
                    role=role.value,
                    password_hash=hash_password(password),
                    disabled=False,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                account = _to_account(row)
                audit.record(
                    session,
                    actor=actor,
                    action="account.create",
                    object_type=OBJECT_TYPE,
                    object_id=row.id,
                    after={**account.public(), "default": True},
                )
                made.append((account, password))
    except sa_exc.IntegrityError:
        return []
    if made:
        identity_changed(db)
    return made
