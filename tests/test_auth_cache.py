"""The principals a web process keeps (ioc.identity.changes): on real Redis (both versions) and both databases, a
wall's tick with a warm cache runs no SQL statement; any identity change (a revoked token, a disabled account)
bumps the identity version and is refused at the next request; a change whose bump never came is refused within
10 s (the max age); with Redis not answering every request asks the database; pages other than the wall still
ask the database once per request."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from dash import Dash

from benchmarks.browser import BrowserPage
from callbacks import Resources, attach, resources_of
from ioc.caches import VersionedCache
from ioc.db import Database
from ioc.identity.accounts import disable
from ioc.identity.changes import MAX_AGE_S
from ioc.identity.roles import Role
from ioc.identity.tables import DisplayTokenRow
from ioc.identity.tokens import revoke_display_token
from ioc.settings import Settings
from layouts.wall import ids
from layouts.wall.page import PATH
from tests.sessions import ACTOR, PASSWORD, app_database, new_account, new_display_token

REFUSED_WITHIN_S = 10.0


@pytest.fixture
def app(db_settings: Settings, redis_url: str, namespace: str, make_app: Any) -> Iterator[Dash]:
    """The web app on the Redis and the database under test, in the test's namespace."""
    yield make_app(database_url=db_settings.database_url, redis_url=redis_url, namespace=namespace)


def count_statements(database: Database) -> Callable[[], list[str]]:
    """Record the SQL statements the database runs from now on (an engine event listener)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(database.engine, "before_cursor_execute", record)
    return lambda: list(seen)


def tick(wall: BrowserPage, n: int) -> int:
    """Post the wall's tick as its browser does; the HTTP status (401 once refused)."""
    try:
        (reply,) = wall.set(ids.INTERVAL, "n_intervals", n)
    except RuntimeError as refused:  # benchmarks.browser raises on a refusal, naming its status
        if "answered HTTP 401" in str(refused):
            return 401
        raise
    return reply.status


def test_a_wall_tick_with_a_warm_cache_runs_no_sql(app: Dash) -> None:
    database = app_database(app)
    _, secret = new_display_token(database)
    screen = BrowserPage(app, PATH, "?lang=en", token=secret)
    person = BrowserPage(app, PATH, "?lang=en", user=(new_account(database, Role.OPERATOR).username, PASSWORD))
    assert tick(screen, 1) == 200 and tick(person, 1) == 200  # warm: each principal checked once
    statements = count_statements(database)
    for n in range(2, 6):
        assert tick(screen, n) == 200
        assert tick(person, n) == 200
    assert statements() == []
    assert person.http.request("GET", "/incidents").status == 200  # a desk page: the database's word, once
    assert any("FROM accounts" in sql for sql in statements())


def test_a_revoked_token_and_a_disabled_account_are_refused_at_the_next_request(app: Dash) -> None:
    database = app_database(app)
    token, secret = new_display_token(database)
    operator = new_account(database, Role.OPERATOR)
    screen = BrowserPage(app, PATH, "?lang=en", token=secret)
    person = BrowserPage(app, PATH, "?lang=en", user=(operator.username, PASSWORD))
    assert tick(screen, 1) == 200 and tick(person, 1) == 200
    assert tick(screen, 2) == 200 and tick(person, 2) == 200  # from the cache
    revoke_display_token(database, token.name, actor=ACTOR)
    assert tick(screen, 3) == 401
    assert tick(person, 3) == 200  # another principal: checked again (the version moved), still stands
    disable(database, operator.username, actor=ACTOR)
    assert tick(person, 4) == 401


def test_a_change_whose_bump_never_came_is_refused_within_10_s(app: Dash) -> None:
    database = app_database(app)
    token, secret = new_display_token(database)
    screen = BrowserPage(app, PATH, "?lang=en", token=secret)
    assert tick(screen, 1) == 200
    with database.transaction() as session:  # revoked behind the code's back: no identity version bump
        session.execute(
            sa.update(DisplayTokenRow).where(DisplayTokenRow.id == token.id).values(revoked_at=datetime.now(UTC))
        )
    revoked_at = time.monotonic()
    n = 2
    while tick(screen, n) == 200:
        assert time.monotonic() - revoked_at < REFUSED_WITHIN_S, "still let in 10 s after its token was revoked"
        time.sleep(0.25)
        n += 1
    assert time.monotonic() - revoked_at <= MAX_AGE_S + 1.0


def test_with_redis_not_answering_every_request_asks_the_database(app: Dash, tmp_path: Any) -> None:
    database = app_database(app)
    token, secret = new_display_token(database)
    screen = BrowserPage(app, PATH, "?lang=en", token=secret)
    assert tick(screen, 1) == 200
    own = resources_of(app.server)
    dead = Resources.open(own.settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    attach(app.server, dead)
    try:
        statements = count_statements(dead.database)
        assert tick(screen, 2) == 200  # the stale banner, from the session still checked in SQL
        assert tick(screen, 3) == 200
        assert sum("FROM display_tokens" in sql for sql in statements()) == 2
        with database.transaction() as session:  # no bump possible: nothing kept may let it in
            session.execute(
                sa.update(DisplayTokenRow).where(DisplayTokenRow.id == token.id).values(revoked_at=datetime.now(UTC))
            )
        assert tick(screen, 4) == 401
    finally:
        attach(app.server, own)
        dead.close()


def test_the_cache_keeps_values_per_version_up_to_its_max_age_and_size() -> None:
    now = [0.0]
    cache: VersionedCache[str] = VersionedCache(max_age_s=5.0, size=2, clock=lambda: now[0])
    loads: list[str] = []

    def load(value: str) -> Callable[[], str]:
        def loaded() -> str:
            loads.append(value)
            return value

        return loaded

    assert cache.get("a", "1", load("a1")) == "a1"
    assert cache.get("a", "1", load("a2")) == "a1"  # kept
    assert cache.get("a", "2", load("a3")) == "a3"  # the version moved
    now[0] = 4.9
    assert cache.get("a", "2", load("a4")) == "a3"
    now[0] = 5.0
    assert cache.get("a", "2", load("a5")) == "a5"  # too old
    assert cache.get("a", None, load("a6")) == "a6"  # no version known: never from the cache
    assert cache.get("a", "2", load("a7")) == "a5"  # (nor stored)
    cache.get("b", "2", load("b1"))
    cache.get("c", "2", load("c1"))
    assert len(cache) == 2  # "a", least recently used, dropped
    assert cache.get("a", "2", load("a8")) == "a8"
    assert loads == ["a1", "a3", "a5", "a6", "b1", "c1", "a8"]
