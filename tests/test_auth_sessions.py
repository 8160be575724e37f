"""Sessions beyond the login: a person's session ends at its absolute lifetime (IOC_SESSION_MAX_HOURS) however busy,
a wall screen's lasts until its token is revoked; a wall's request finds its display token by id in one query; CSRF
comes from Flask-WTF's CSRFProtect, on every form POST by default, Dash's JSON callback endpoint exempt; an address
where no page is answers 404 with the shell's own page in the user's language; the server reads its session key,
idle lifetime, Secure flag and tile server from the resources attached to it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from dash import Dash
from flask import session
from flask_wtf.csrf import CSRFProtect

from benchmarks.browser import UPDATE_PATH, AppHttp, BrowserPage, sign_in_with_token
from callbacks import Resources, attach, resources_of
from callbacks.auth import Principal, start_session
from callbacks.auth.sessions import STARTED_KEY
from ioc.identity.roles import Role
from ioc.identity.tokens import get_display_token, revoke_display_token
from ioc.settings import Settings
from layouts.wall import ids
from tests.conftest import PROBE_FORM
from tests.sessions import ACTOR, app_database, display_http, new_account, new_display_token, operator_http

HOUR_S = 3600


def cookie_started(app: Dash, who: Principal, age_s: float) -> tuple[str, str]:
    """The session cookie of a browser that signed in as `who` `age_s` seconds ago."""
    server = app.server
    with server.test_request_context("/"):
        start_session(who)
        session[STARTED_KEY] = int(time.time() - age_s)
        value = server.session_interface.get_signing_serializer(server).dumps(dict(session))
    return server.config["SESSION_COOKIE_NAME"], value


def status_with(app: Dash, cookie: tuple[str, str]) -> int:
    """/auth/status for a browser holding exactly this cookie."""
    client = app.server.test_client()
    client.set_cookie(*cookie)
    return int(client.get("/auth/status").status_code)


def test_a_person_session_ends_at_its_absolute_lifetime_a_wall_screen_keeps_its_own(make_app) -> None:
    app = make_app()  # IOC_SESSION_MAX_HOURS: 12 by default
    database = app_database(app)
    person = Principal.of_account(new_account(database, Role.OPERATOR))
    screen = Principal.of_token(new_display_token(database)[0])
    assert status_with(app, cookie_started(app, person, 11 * HOUR_S)) == 200
    assert status_with(app, cookie_started(app, person, 12 * HOUR_S + 5)) == 401
    assert status_with(app, cookie_started(app, screen, 30 * 24 * HOUR_S)) == 200  # until revoked
    with app.server.test_request_context("/"):
        start_session(person)
        del session[STARTED_KEY]  # a cookie from before the limit: ended too
        older = app.server.session_interface.get_signing_serializer(app.server).dumps(dict(session))
    assert status_with(app, (app.server.config["SESSION_COOKIE_NAME"], older)) == 401


def test_a_busy_session_ends_at_its_absolute_lifetime_on_the_real_clock(make_app) -> None:
    max_s = 3.0
    app = make_app(session_max_hours=max_s / HOUR_S)
    person = operator_http(app)
    started = time.monotonic()
    screen = AppHttp(app)
    sign_in_with_token(screen, new_display_token(app_database(app))[1])
    while person.request("GET", "/auth/status").status == 200:  # used all the time: the idle limit never ends it
        assert time.monotonic() - started < max_s + 10, "the session outlived its absolute lifetime"
        time.sleep(0.2)
    assert time.monotonic() - started >= max_s - 1.0  # the cookie's start is counted in whole seconds
    page = person.request("GET", "/")
    assert page.status == 302 and (page.location or "").startswith("/login")
    assert screen.request("GET", "/auth/status").status == 200  # a wall screen is not a person


def count_statements(app: Dash) -> Callable[[], list[str]]:
    """Start recording the SQL statements the app's database runs; the returned function gives them so far."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(app_database(app).engine, "before_cursor_execute", record)
    return lambda: list(seen)


def test_a_wall_request_finds_its_display_token_by_id_in_one_query(make_app) -> None:
    app = make_app()
    database = app_database(app)
    for _ in range(5):
        new_display_token(database)  # other walls: none of them is read
    token, secret = new_display_token(database)
    screen = AppHttp(app)
    sign_in_with_token(screen, secret)
    statements = count_statements(app)
    assert screen.request("GET", "/auth/status").json()["name"] == token.name
    (query,) = [sql for sql in statements() if sql.lstrip().upper().startswith("SELECT")]  # SQLite: a BEGIN too
    assert "FROM display_tokens" in query and "WHERE display_tokens.id" in query
    assert get_display_token(database, token.id) == token
    revoke_display_token(database, token.name, actor=ACTOR)
    assert get_display_token(database, token.id) is None
    assert screen.request("GET", "/auth/status").status == 401
    for nothing in (0, -1, 2**31, 10**20):
        assert get_display_token(database, nothing) is None


def test_csrf_comes_from_flask_wtf_on_every_form_and_dash_callbacks_are_exempt(make_app) -> None:
    app = make_app()
    assert isinstance(app.server.extensions.get("csrf"), CSRFProtect)
    wall = BrowserPage(app, "/", token=new_display_token(app_database(app))[1])
    # A route added after CSRFProtect (the tests' probe, added once the app was built): checked by default.
    assert wall.http.request("POST", PROBE_FORM, form={"x": "1"}).status == 400
    (tick,) = wall.set(ids.INTERVAL, "n_intervals", 1)
    assert tick.status == 200  # Dash's renderer sends no token: its JSON endpoint is exempt
    assert AppHttp(app).request("POST", UPDATE_PATH, json_body={}).status == 401  # and still needs a session


@pytest.mark.parametrize(("query", "title"), [("", "Không tìm thấy trang"), ("?lang=en", "Page not found")])
def test_an_address_with_no_page_answers_404_in_the_users_language(make_app, query: str, title: str) -> None:
    app = make_app()
    operator = operator_http(app)
    reply = operator.request("GET", f"/trainer{query}")
    assert reply.status == 404 and title in reply.text and "404 - Page not found" not in reply.text
    assert "/trainer" in reply.text and 'href="/"' in reply.text
    assert operator.request("GET", f"/no/such/page{query}").status == 404
    assert operator.request("GET", "/incidents/").status == 200  # a page with a trailing slash is that page
    assert operator.request("GET", "/admin/").status == 403  # and keeps its permission
    assert AppHttp(app).request("GET", "/trainer").status == 302  # without a session: the login, nothing told
    screen = AppHttp(app)
    sign_in_with_token(screen, new_display_token(app_database(app))[1])
    assert screen.request("GET", "/trainer").status == 404


def session_set_cookie(app: Dash, token: str) -> str:
    """The Set-Cookie header of the session a wall screen gets when it opens its display-token address."""
    reply = app.server.test_client().get(f"/display?{urlencode({'token': token})}")
    assert reply.status_code == 302
    name = app.server.config["SESSION_COOKIE_NAME"]
    (found,) = [value for value in reply.headers.getlist("Set-Cookie") if value.startswith(f"{name}=")]
    return str(found)


def test_the_server_reads_its_session_key_lifetime_secure_flag_and_tiles_from_the_resources_attached(
    make_app, tmp_path: Path
) -> None:
    """No setting is copied into the server when the app is built: attach other resources and the same server signs
    with their key, gives sessions their idle lifetime and Secure flag, and allows their tile server."""
    app = make_app()
    server = app.server
    own = resources_of(server)
    wall = display_http(app)
    assert wall.request("GET", "/auth/status").status == 200
    first = session_set_cookie(app, new_display_token(app_database(app))[1])
    assert "Secure" not in first.split("; ")
    tiles = "https://{s}.tile.example/{z}/{x}/{y}.png"
    other = Resources.open(
        Settings(
            data_dir=tmp_path / "other",  # another database and another session key
            redis_url=own.settings.redis_url,
            cookie_secure=True,
            session_idle_minutes=5,
            tile_url=tiles,
        )
    )
    attach(server, other)
    try:
        assert other.secret_key != own.secret_key
        assert wall.request("GET", "/auth/status").status == 401  # its cookie was signed with the other key
        cookie = session_set_cookie(app, new_display_token(app_database(app))[1])
        assert "Secure" in cookie.split("; ")
        (expires,) = [part.partition("=")[2] for part in cookie.split("; ") if part.startswith("Expires=")]
        left = (parsedate_to_datetime(expires) - datetime.now(UTC)).total_seconds()
        assert 4 * 60 < left <= 5 * 60 + 1
        policy = AppHttp(app).request("GET", "/login").headers["content-security-policy"]
        assert "https://*.tile.example" in policy
    finally:
        attach(server, own)
        other.close()
    assert wall.request("GET", "/auth/status").status == 200
    assert "tile.example" not in AppHttp(app).request("GET", "/login").headers["content-security-policy"]
