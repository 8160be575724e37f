"""Admin callbacks: create an account, disable, enable, change the role of or reset the password of one, create and
revoke a wall screen's display token. Each is guarded (MANAGE_ACCOUNTS) and makes one call into ioc/ as the
signed-in admin, from the request's address (both go to the audit log), passing the version of the row the page
showed, so a change made meanwhile by another admin is refused, not overwritten. Each answers by name with a
message (done, or why not), a secret shown once if it made one, and the tables as they are now.

No password or token secret is logged: they travel only in the request that typed them and the response that
shows them once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

import dash
from dash import ALL, Input, Output, State, callback, no_update
from dash.exceptions import PreventUpdate
from flask_login import login_user

from callbacks import chosen_lang, resources
from callbacks.auth import Principal, acting_principal, client_address, guarded
from ioc import audit
from ioc.db import Database
from ioc.errors import DatabaseError, IocError, NotFound, StaleVersion
from ioc.i18n import Lang, t
from ioc.identity import accounts
from ioc.identity.roles import Permission
from ioc.identity.tokens import create_display_token, display_url, list_display_tokens, revoke_display_token
from ioc.inputs import valid_id
from layouts.admin import ids
from layouts.admin.accounts import ACTIONS, DEFAULT_ROLE, GENERATE, accounts_table
from layouts.admin.audit import audit_table
from layouts.admin.feedback import Subject, done, password_secret, problem, refused, token_secret
from layouts.admin.page import AUDIT_ROWS, AdminData
from layouts.admin.tokens import tokens_table

log = logging.getLogger(__name__)

PERMISSION: Final = Permission.MANAGE_ACCOUNTS

FEEDBACK: Final = {
    "message": Output(ids.MESSAGE, "children", allow_duplicate=True),
    "secret": Output(ids.SECRET, "children", allow_duplicate=True),
}
TABLES: Final = {
    "accounts": Output(ids.ACCOUNTS, "children", allow_duplicate=True),
    "tokens": Output(ids.TOKENS, "children", allow_duplicate=True),
    "audit": Output(ids.AUDIT, "children", allow_duplicate=True),
}
CREATE_ACCOUNT_OUTPUTS: Final = {
    **FEEDBACK,
    "accounts": TABLES["accounts"],
    "audit": TABLES["audit"],
    "username": Output(ids.NEW_USERNAME, "value"),
    "password": Output(ids.NEW_PASSWORD, "value"),
    "again": Output(ids.NEW_PASSWORD_AGAIN, "value"),
}
ACCOUNT_ACTION_OUTPUTS: Final = {**FEEDBACK, "accounts": TABLES["accounts"], "audit": TABLES["audit"]}
CREATE_TOKEN_OUTPUTS: Final = {
    **FEEDBACK,
    "tokens": TABLES["tokens"],
    "audit": TABLES["audit"],
    "token_name": Output(ids.TOKEN_NAME, "value"),
}
REVOKE_TOKEN_OUTPUTS: Final = {**FEEDBACK, "tokens": TABLES["tokens"], "audit": TABLES["audit"]}


def read_data(db: Database) -> AdminData:
    """What the admin page shows, read now."""
    return AdminData(accounts.list_accounts(db), list_display_tokens(db), audit.entries(db, limit=AUDIT_ROWS))


def new_password() -> str:
    """A random password for an account (shown once, then only its hash is kept)."""
    return secrets.token_urlsafe(accounts.DEFAULT_PASSWORD_BYTES)


def _tables(parts: tuple[str, ...], lang: Lang) -> dict[str, Any]:
    """The tables named in `parts` as they are now (unchanged on screen when the database does not answer)."""
    res = resources()
    try:
        data = read_data(res.database)
    except DatabaseError as exc:
        log.error("admin page cannot read the database: %s", exc)
        return dict.fromkeys(parts, no_update)
    tz, me = res.city.timezone, acting_principal().name
    build: dict[str, Callable[[], Any]] = {
        "accounts": lambda: accounts_table(data.accounts, me=me, lang=lang, tz=tz),
        "tokens": lambda: tokens_table(data.tokens, lang=lang, tz=tz),
        "audit": lambda: audit_table(data.entries, lang=lang, tz=tz),
    }
    return {part: build[part]() for part in parts}


def _refused(error: IocError, lang: Lang, *, name: str, subject: Subject) -> Any:
    if isinstance(error, DatabaseError):
        log.error("admin action failed: %s", error)
    else:
        # Not the name nor the message: a refused name may be anything typed, a password in the wrong field too.
        log.info("admin %s was refused an action on a %s: %s", acting_principal().name, subject, type(error).__name__)
    return refused(error, lang, name=name, subject=subject)


def _clicked() -> Mapping[str, Any]:
    """The id of the row button whose confirmation was accepted; PreventUpdate for anything else (rows rendered
    anew report no clicks)."""
    triggered = dash.ctx.triggered
    trigger = dash.ctx.triggered_id
    if not triggered or not triggered[0].get("value") or not isinstance(trigger, Mapping):
        raise PreventUpdate
    return trigger


@callback(
    output=CREATE_ACCOUNT_OUTPUTS,
    inputs={
        "clicks": Input(ids.CREATE_ACCOUNT, "n_clicks"),
        "username": State(ids.NEW_USERNAME, "value"),
        "role": State(ids.NEW_ROLE, "value"),
        "password": State(ids.NEW_PASSWORD, "value"),
        "again": State(ids.NEW_PASSWORD_AGAIN, "value"),
        "generate": State(ids.NEW_GENERATE, "value"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def create_account(
    clicks: int | None,
    username: str | None,
    role: str | None,
    password: str | None,
    again: str | None,
    generate: list[str] | None,
    lang: str | None,
) -> dict[str, Any]:
    """Create an account with the typed password (typed twice, the same) or a generated one shown once."""
    if not clicks:
        raise PreventUpdate
    chosen = chosen_lang(lang)
    name = (username or "").strip() if isinstance(username, str | None) else username  # else refused by the core
    cleared = {"password": "", "again": ""}  # typed passwords never stay in the form
    generated = isinstance(generate, list) and GENERATE in generate  # a checklist sends a list; anything else: no
    if generated:
        password = new_password()
    elif (password or "") != (again or ""):
        message = problem(t("admin.refused.mismatch", chosen))
        return {
            "message": message,
            "secret": None,
            "accounts": no_update,
            "audit": no_update,
            "username": no_update,
            **cleared,
        }
    try:
        account = accounts.create_account(
            resources().database,
            name,
            role or DEFAULT_ROLE.value,
            password or "",
            actor=acting_principal().name,
            address=client_address(),
        )
    except IocError as error:
        message = _refused(error, chosen, name=name, subject="account")
        return {
            "message": message,
            "secret": None,
            "username": no_update,
            **cleared,
            **_tables(("accounts", "audit"), chosen),
        }
    log.info("admin %s created account %r (%s)", acting_principal().name, account.username, account.role.value)
    message = done("admin.done.create", chosen, name=account.username, role=t(f"role.{account.role.value}", chosen))
    secret = password_secret(account.username, password or "", chosen) if generated else None
    return {"message": message, "secret": secret, "username": "", **cleared, **_tables(("accounts", "audit"), chosen)}


def _change(
    action: str, account: accounts.Account, version: int, role: str | None
) -> tuple[accounts.Account, str | None]:
    """Apply one row action (one of ACTIONS) as the signed-in admin: the account after it, and the new password to
    show once (reset_password) or None."""
    db, who = resources().database, acting_principal()
    common: dict[str, Any] = {"actor": who.name, "address": client_address(), "expected_version": version}
    if action == "disable":
        return accounts.disable(db, account.username, **common), None
    if action == "enable":
        return accounts.enable(db, account.username, **common), None
    if action == "set_role":
        return accounts.set_role(db, account.username, role or "", **common), None
    if action != "reset_password":
        raise ValueError(f"unknown account action {action!r}")
    password = new_password()
    changed = accounts.reset_password(db, account.username, password, **common)
    if who.kind == "account" and who.ref == changed.id:
        login_user(Principal.of_account(changed))  # one's own new password: this session goes on, others end
    return changed, password


@callback(
    output=ACCOUNT_ACTION_OUTPUTS,
    inputs={
        "clicks": Input({"type": ids.ACCOUNT_ACTION, "account": ALL, "version": ALL, "action": ALL}, "submit_n_clicks"),
        "roles": State({"type": ids.ACCOUNT_ROLE, "account": ALL}, "value"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def account_action(clicks: list[int | None], roles: list[str | None], lang: str | None) -> dict[str, Any]:
    """Disable, enable, change the role of or reset the password of the account of the row clicked."""
    trigger = _clicked()
    action = trigger.get("action")
    account_id, version = valid_id(trigger.get("account")), valid_id(trigger.get("version"))
    if action not in ACTIONS or account_id is None or version is None:
        raise PreventUpdate  # not a row this page drew (or ids no database holds)
    chosen = chosen_lang(lang)
    shown_roles = dash.ctx.args_grouping["roles"]  # the role chosen in each row, with its row's id
    role = next((item.value for item in shown_roles if item.id.get("account") == account_id), None)
    name = f"#{account_id}"
    secret = None
    try:
        account = accounts.get_account(resources().database, account_id)
        if account is None:
            raise NotFound(f"no account with id {account_id}")
        name = account.username
        changed, password = _change(action, account, version, role)
    except IocError as error:
        message = _refused(error, chosen, name=name, subject="account")
    else:
        log.info("admin %s: %s on account %r", acting_principal().name, action, name)
        if changed.version == version:
            message = done("admin.done.unchanged", chosen, name=name)
        else:
            message = done(f"admin.done.{action}", chosen, name=name, role=t(f"role.{changed.role.value}", chosen))
        if password is not None:
            secret = password_secret(name, password, chosen)
    return {"message": message, "secret": secret, **_tables(("accounts", "audit"), chosen)}


@callback(
    output=CREATE_TOKEN_OUTPUTS,
    inputs={
        "clicks": Input(ids.CREATE_TOKEN, "n_clicks"),
        "name": State(ids.TOKEN_NAME, "value"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def create_token(clicks: int | None, name: str | None, lang: str | None) -> dict[str, Any]:
    """Make a display token for a wall screen and show its address once."""
    if not clicks:
        raise PreventUpdate
    chosen = chosen_lang(lang)
    wanted = (name or "").strip() if isinstance(name, str | None) else name  # else refused by the core
    res = resources()
    try:
        token, secret = create_display_token(
            res.database, wanted, actor=acting_principal().name, address=client_address()
        )
    except IocError as error:
        message = _refused(error, chosen, name=wanted, subject="token")
        return {"message": message, "secret": None, "token_name": no_update, **_tables(("tokens", "audit"), chosen)}
    log.info("admin %s created display token %r", acting_principal().name, token.name)
    return {
        "message": done("admin.done.token", chosen, name=token.name),
        "secret": token_secret(token.name, display_url(res.settings, secret), chosen),
        "token_name": "",
        **_tables(("tokens", "audit"), chosen),
    }


@callback(
    output=REVOKE_TOKEN_OUTPUTS,
    inputs={
        "clicks": Input({"type": ids.TOKEN_REVOKE, "token": ALL}, "submit_n_clicks"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def revoke_token(clicks: list[int | None], lang: str | None) -> dict[str, Any]:
    """Revoke the display token of the row clicked: its wall screen is refused from its next request."""
    token_id = _clicked().get("token")
    if not isinstance(token_id, int):
        raise PreventUpdate
    chosen = chosen_lang(lang)
    db = resources().database
    name = f"#{token_id}"
    try:
        token = next((tk for tk in list_display_tokens(db) if tk.id == token_id), None)
        if token is None:
            raise NotFound(f"no display token with id {token_id}")
        name = token.name
        if not token.active:
            raise StaleVersion(f"display token {name!r} was revoked meanwhile")
        revoke_display_token(db, name, actor=acting_principal().name, address=client_address(), expected_id=token_id)
    except IocError as error:
        message = _refused(error, chosen, name=name, subject="token")
    else:
        log.info("admin %s revoked display token %r", acting_principal().name, name)
        message = done("admin.done.revoke", chosen, name=name)
    return {"message": message, "secret": None, **_tables(("tokens", "audit"), chosen)}
