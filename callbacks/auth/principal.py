"""Who is asking: the principal of a request (a person's account or a wall screen's display token), Flask-Login's
user loader that checks the session's principal against the database on every request, the degraded mode that
keeps wall screens showing the city while the database does not answer, and the client's address.

The session cookie holds only a principal id ("a:<account id>:<version>" or "d:<token id>"): a disabled account, a
changed role or password, or a revoked token ends the session at its next request (the change bumps the identity
version in Redis, which ends what each process kept of it; without the bump, within ioc.identity.changes.MAX_AGE_S).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Final, Literal

from flask import g, request, session
from flask_login import current_user

from callbacks import resources
from callbacks.auth import sessions
from ioc.caches import VersionedCache
from ioc.errors import DatabaseError
from ioc.exercises.workspace import Workspace, live, workspace_of
from ioc.identity.accounts import Account, get_account
from ioc.identity.changes import CACHE_SIZE, MAX_AGE_S
from ioc.identity.roles import Permission, Role, may
from ioc.identity.tokens import DisplayToken, get_display_token

log = logging.getLogger(__name__)

DEGRADED_LOG_EVERY_S: Final = 60.0
WORKSPACE_KEY: Final = "ioc_workspace"  # where the request's principal works, decided once per request (flask.g)
DEGRADED_NOTE: Final = "ioc.auth.degraded"  # the resources' note of when it last said it serves without the database
SIGNED_IN: Final = "signed-in"  # a callback any principal with a session may call (e.g. the shell's own)
_RECHECKED: Final = "ioc_principal_rechecked"  # flask.g: the principal checked again in this request (principal())
PRINCIPALS_NOTE: Final = "ioc.auth.principals"  # the resources' note holding the principals checked (a VersionedCache)


@dataclass(frozen=True)
class Principal:
    """Whoever holds a session: a person's account, or a wall screen's display token (role `display`)."""

    kind: Literal["account", "display"]
    ref: int
    name: str
    role: Role
    version: int = 0
    degraded: bool = False  # the database did not answer: known only from the signed session, may view the wall
    kept: bool = False  # as this process checked it lately (identity version unchanged): enough to view the wall

    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        """The id kept in the session cookie; the version makes any change to the account end its sessions."""
        return f"a:{self.ref}:{self.version}" if self.kind == "account" else f"d:{self.ref}"

    def may(self, permission: Permission) -> bool:
        """Whether this principal's role holds the permission (while degraded, only viewing the wall)."""
        if self.degraded and permission != Permission.VIEW_WALL:
            return False
        return may(self.role, permission)

    @classmethod
    def of_account(cls, account: Account) -> Principal:
        """The principal of a signed-in account."""
        return cls("account", account.id, account.username, account.role, account.version)

    @classmethod
    def of_token(cls, token: DisplayToken) -> Principal:
        """The principal of a wall screen signed in with a display token."""
        return cls("display", token.id, token.name, Role.DISPLAY)


def principal(permission: Permission | str | None = None) -> Principal | None:
    """The principal of the current request, or None without a (valid) session. Asked for a `permission` other than
    viewing the wall, a principal this process kept from an earlier check is checked against the database again
    first (once per request): only wall requests go without a query, and the database-down mode applies to the rest
    as before."""
    if _RECHECKED in g:
        rechecked = g.get(_RECHECKED)
        return rechecked if isinstance(rechecked, Principal) else None
    user = current_user
    who = user if isinstance(user, Principal) else None
    if who is None or not who.kept or permission in (None, Permission.VIEW_WALL, SIGNED_IN):
        return who
    principal_id = who.get_id()
    try:
        fresh = _check_principal(principal_id)
    except DatabaseError as exc:
        fresh = _degraded_principal(principal_id, exc)
    setattr(g, _RECHECKED, fresh)
    return fresh


def acting_principal() -> Principal:
    """The principal of a guarded callback (guarded() let the call through, so there is one)."""
    who = principal()
    if who is None:
        raise RuntimeError("a guarded callback ran without a principal")
    return who


def workspace() -> Workspace:
    """Where the principal of this request works: the exercise its account trains in (with the exercise's clock) or
    live; decided here once per request, on the server, from the session alone. A display token, a request without
    a session and a degraded session (no database to ask) work live."""
    found = g.get(WORKSPACE_KEY)
    if isinstance(found, Workspace):
        return found
    res, who = resources(), principal()
    if who is None or who.kind != "account" or who.degraded:
        found = live(res.keys.namespace)
    else:
        found = workspace_of(res.database, res.redis, res.keys.namespace, who.ref)
    setattr(g, WORKSPACE_KEY, found)
    return found


def revoked_display() -> bool:
    """Whether this request carries the session of a display token that no longer stands (revoked): its wall says
    "access revoked" instead of offering a login form to nobody."""
    kept = session.get(sessions.PRINCIPAL_KEY)
    return isinstance(kept, str) and kept.startswith("d:") and principal() is None


def client_address() -> str | None:
    """The address of the request's client, for the audit log and the login limit: behind a trusted proxy
    (IOC_TRUSTED_PROXIES) the one it reports, else the peer's (ioc.proxies, installed on the server)."""
    return request.remote_addr


def load_principal(principal_id: str) -> Principal | None:
    """Flask-Login's user loader: the session's principal if it still stands (not signed out, a person's session
    within its absolute lifetime, account enabled and unchanged, token not revoked), else None, which ends it. The
    database's answer is kept per process while the identity version stays the same, up to MAX_AGE_S (see
    ioc.identity.changes): a wall's tick costs one Redis round trip and no SQL query."""
    if principal_id.startswith("a:") and sessions.expired():
        return None
    ended, version = sessions.marks()
    if ended:
        return None
    loaded = False

    def load() -> Principal | None:
        nonlocal loaded
        loaded = True
        return _check_principal(principal_id)

    try:
        who = checked_principals().get(principal_id, version, load)
    except DatabaseError as exc:
        return _degraded_principal(principal_id, exc)
    return who if loaded or who is None else dataclasses.replace(who, kept=True)


def checked_principals() -> VersionedCache[Principal | None]:
    """The principals this process checked against the database, kept with the resources attached (so other
    resources, in tests and benchmarks, start afresh); bounded (CACHE_SIZE) and short-lived (MAX_AGE_S)."""
    notes = resources().notes
    cache = notes.get(PRINCIPALS_NOTE)
    if cache is None:
        made = VersionedCache[Principal | None](max_age_s=MAX_AGE_S, size=CACHE_SIZE)
        cache = notes.setdefault(PRINCIPALS_NOTE, made)  # two threads at once: both use the one kept
    assert isinstance(cache, VersionedCache)
    return cache


def _check_principal(principal_id: str) -> Principal | None:
    """The principal as the database has it now (one query by id), or None if it no longer stands."""
    database = resources().database
    kind, _, rest = principal_id.partition(":")
    try:
        if kind == "a":
            account_id, _, version = rest.partition(":")
            account = get_account(database, int(account_id))
            if account is None or account.disabled or str(account.version) != version:
                return None
            return Principal.of_account(account)
        if kind == "d":
            token = get_display_token(database, int(rest))
            return Principal.of_token(token) if token is not None else None
    except ValueError:
        return None
    return None


def _degraded_principal(principal_id: str, exc: DatabaseError) -> Principal | None:
    """With the database down, the session's own record of who signed in (a signed cookie) lets a wall keep showing
    the city (read-only, VIEW_WALL) instead of going dark; nothing else is allowed until the database answers, and
    a revocation made meanwhile takes effect then."""
    who = session.get(sessions.WHO_KEY)
    if not isinstance(who, dict) or who.get("id") != principal_id:
        return None
    note = resources().notes.setdefault(DEGRADED_NOTE, {"logged_at": -math.inf})
    assert isinstance(note, dict)
    now = time.monotonic()
    if now - note["logged_at"] >= DEGRADED_LOG_EVERY_S:
        note["logged_at"] = now
        log.warning(
            "database unavailable (%s): signed-in sessions are served the wall only, read-only, from their "
            "signed cookies until it answers",
            exc,
        )
    kind: Literal["account", "display"] = "account" if principal_id.startswith("a:") else "display"
    try:
        ref = int(principal_id.split(":")[1])
        return Principal(kind, ref, str(who.get("name", "")), Role(str(who.get("role"))), degraded=True)
    except (ValueError, IndexError):
        return None
