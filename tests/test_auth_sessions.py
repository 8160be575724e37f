"""Sessions beyond the login: a wall's request finds its display token by id in one query; CSRF comes from
Flask-WTF's CSRFProtect, on every form POST by default, Dash's JSON callback endpoint exempt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from dash import Dash
from flask import Response
from flask_wtf.csrf import CSRFProtect

from benchmarks.browser import UPDATE_PATH, AppHttp, BrowserPage, sign_in_with_token
from ioc.tokens import get_display_token, revoke_display_token
from layouts.wall import ids
from tests.sessions import ACTOR, app_database, new_display_token

HOUR_S = 3600


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

    def changes_something() -> Response:
        return Response("changed", 200)

    app.server.add_url_rule("/test-form", "test_form", changes_something, methods=["POST"])
    assert isinstance(app.server.extensions.get("csrf"), CSRFProtect)
    wall = BrowserPage(app, "/", token=new_display_token(app_database(app))[1])
    assert wall.http.request("POST", "/test-form", form={"x": "1"}).status == 400  # a new route: checked by default
    (tick,) = wall.set(ids.INTERVAL, "n_intervals", 1)
    assert tick.status == 200  # Dash's renderer sends no token: its JSON endpoint is exempt
    assert AppHttp(app).request("POST", UPDATE_PATH, json_body={}).status == 401  # and still needs a session
