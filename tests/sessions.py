"""Who the tests sign in as: accounts and display tokens made through ioc.identity.accounts and ioc.identity.tokens on
an app's own database, and signed-in HTTP clients of an app (benchmarks.browser signs in through the real login and
display routes). `session_cookie` makes the cookie a signed-in browser holds without sending any request, for tests
where the first request must find the app untouched (the warm-up tests)."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from dash import Dash
from flask import session

from benchmarks.browser import AppHttp, sign_in, sign_in_with_token
from callbacks import resources_of
from callbacks.auth import Principal, start_session
from ioc.db import Database
from ioc.identity.accounts import Account, create_account
from ioc.identity.roles import Role
from ioc.identity.tokens import DisplayToken, create_display_token

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

PASSWORD = "a long enough test password"
ACTOR = "test"


def app_database(app: Dash) -> Database:
    """The database of an app from the factory, migrated (the app opens and closes it)."""
    database = resources_of(app.server).database
    database.upgrade()
    return database


def unique(prefix: str) -> str:
    """A fresh name (tests may share a database)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_account(database: Database, role: Role, password: str = PASSWORD) -> Account:
    """A new account of that role, named after it."""
    return create_account(database, unique(role.value), role, password, actor=ACTOR)


def new_display_token(database: Database) -> tuple[DisplayToken, str]:
    """A new display token and its secret."""
    return create_display_token(database, unique("wall"), actor=ACTOR)


def display_http(app: Dash) -> AppHttp:
    """HTTP to the app signed in as a wall screen with a new display token."""
    http = AppHttp(app)
    sign_in_with_token(http, new_display_token(app_database(app))[1])
    return http


def operator_http(app: Dash, role: Role = Role.OPERATOR) -> AppHttp:
    """HTTP to the app signed in through the login form as a new account of that role (an operator by default)."""
    http = AppHttp(app)
    sign_in(http, new_account(app_database(app), role).username, PASSWORD)
    return http


def session_cookie(app: Dash, who: Principal) -> tuple[str, str]:
    """The session cookie (name, value) of a browser signed in as `who`, made without sending a request."""
    server = app.server
    with server.test_request_context("/"):
        start_session(who)
        value = server.session_interface.get_signing_serializer(server).dumps(dict(session))
    return server.config["SESSION_COOKIE_NAME"], value


def sign_in_browser(context: BrowserContext, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign a Playwright browser context in through the login form, with its own request API (it shares the
    context's cookies), so no page is loaded meanwhile. The context's open pages are blanked first: the app renews
    the session cookie on every response, so a tick of the previous person's page still in flight would otherwise
    put that person's cookie back after this sign-in (seen in CI as the next page refusing the new person)."""
    for page in context.pages:
        page.goto("about:blank")
    form = context.request.get(f"{base_url}/login")
    found = re.search(r'name="csrf" value="([^"]*)"', form.text())
    assert form.status == 200 and found is not None, form.status
    reply = context.request.post(
        f"{base_url}/login",
        form={"csrf": found.group(1), "username": username, "password": password},
        max_redirects=0,
    )
    assert reply.status == 302, (reply.status, reply.text()[:300])
