"""Shared fixtures: real Redis servers (embedded 6.2, and the server at IOC_TEST_REDIS_URL when set), one
throw-away key namespace per test, removed afterwards, and the one web app (built once through the app factory), each
test's settings attached to it; real databases (an SQLite file, and the PostgreSQL at IOC_TEST_DATABASE_URL when set,
one schema per test, dropped afterwards).

Tests marked `slow` (long fault, restart and end-to-end runs) are left out of a developer's `make test` and run by
CI (CI=true) and `make test-all` (IOC_TEST_FULL=1); `FULL` also lets property tests draw more examples there."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import redis
import sqlalchemy
import sqlalchemy.pool
from dash import Dash
from flask import Response

from ioc.city import City, load_city
from ioc.db import Database, open_database
from ioc.embedded import EmbeddedRedis
from ioc.inputs import clean_text
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url

BACKENDS = ["embedded", "server"]
FULL = os.environ.get("CI") == "true" or os.environ.get("IOC_TEST_FULL") == "1"


def example_count(full: int, quick: int) -> int:
    """How many examples a property test draws: more in the full run (CI) than in a developer's quick one."""
    return full if FULL else quick


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the tests marked `slow` out of a quick run (see the module's docstring)."""
    if FULL:
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]
        config.stash[_SLOW_LEFT_OUT] = len(slow)


_SLOW_LEFT_OUT = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say that slow tests were left out, and how to run them (under pytest-xdist the workers collect, so the
    controller that prints this does not know how many)."""
    if FULL:
        return
    left_out = config.stash.get(_SLOW_LEFT_OUT, 0)
    what = f"{left_out} slow tests" if left_out else "the tests marked slow"
    terminalreporter.write_line(f"{what} left out of this quick run: `make test-all` (or CI=true) runs them too")


DATABASES = ["sqlite", "postgresql"]
PROBE_FORM: Final = "/test-form"
PROBE_REFUSES: Final = "/test-refuses"


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """The embedded redis-server, started once for the test session in a temporary folder."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("embedded-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def redis_url(request: pytest.FixtureRequest, embedded_redis: EmbeddedRedis) -> str:
    """URL of each real Redis under test; the server variant needs IOC_TEST_REDIS_URL (CI sets it)."""
    if request.param == "embedded":
        return embedded_redis.url
    url = os.environ.get("IOC_TEST_REDIS_URL")
    if not url:
        pytest.skip("IOC_TEST_REDIS_URL not set: server variant skipped (CI sets it to the local Redis 7)")
    return url


@pytest.fixture
def namespace() -> str:
    """A fresh namespace per test so tests never see each other's keys, even on a shared server."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def keys(namespace: str) -> Keys:
    """Key names of the test's namespace."""
    return Keys(namespace)


@pytest.fixture
def r(redis_url: str, keys: Keys) -> Iterator[redis.Redis]:
    """A client on the Redis under test; every key of the test's namespace is deleted afterwards."""
    client = connect_url(redis_url)
    yield client
    wipe_namespace(client, keys)
    client.close()


def wipe_namespace(client: redis.Redis, keys: Keys) -> None:
    """Delete every key of a namespace."""
    batch = list(client.scan_iter(match=keys.all_keys_pattern(), count=1000))
    for start in range(0, len(batch), 500):
        client.delete(*batch[start : start + 500])


@contextlib.contextmanager
def database_env(kind: str, data_dir: Path) -> Iterator[dict[str, str]]:
    """IOC_* variables selecting a database under test: `sqlite`, the embedded file in `data_dir`, or `postgresql`,
    the PostgreSQL at IOC_TEST_DATABASE_URL (skipped without it) in a schema of its own, dropped afterwards."""
    env = {"IOC_DATA_DIR": str(data_dir)}
    if kind == "sqlite":
        yield env
        return
    base = os.environ.get("IOC_TEST_DATABASE_URL")
    if not base:
        pytest.skip("IOC_TEST_DATABASE_URL not set: PostgreSQL variant skipped (CI sets it to the local PostgreSQL)")
    from ioc.db import sqlalchemy_url

    admin_url = sqlalchemy_url(base)
    schema = f"t{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(admin_url, poolclass=sqlalchemy.pool.NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = admin_url.update_query_dict({"options": f"-csearch_path={schema}"})
        env["IOC_DATABASE_URL"] = url.render_as_string(hide_password=False)
        yield env
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=DATABASES)
def db_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """IOC_* variables selecting each database under test: the embedded SQLite file in a fresh IOC_DATA_DIR, or
    the PostgreSQL at IOC_TEST_DATABASE_URL (CI sets it) in a schema of the test's own, dropped afterwards."""
    with database_env(request.param, tmp_path / "data") as env:
        yield env


@pytest.fixture
def db_settings(db_env: dict[str, str]) -> Settings:
    """Settings on the database under test (IOC_DATABASE_URL and IOC_DATA_DIR from db_env, the rest default)."""
    return Settings(data_dir=Path(db_env["IOC_DATA_DIR"]), database_url=db_env.get("IOC_DATABASE_URL"))


@pytest.fixture
def db(db_settings: Settings) -> Iterator[Database]:
    """The database under test, migrated to the newest revision; its connections closed afterwards."""
    database = open_database(db_settings)
    database.upgrade()
    yield database
    database.close()


@pytest.fixture(scope="session")
def city() -> City:
    """The default city (Tam Kỳ)."""
    return load_city()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's top folder."""
    return Path(__file__).resolve().parent.parent


def probe_form() -> Response:
    """A form route that changes something (tests of CSRF: every POST route is checked unless exempt)."""
    return Response("changed", 200)


def probe_refuses() -> str:
    """A route refused deep inside by the input rule (tests of the InvalidInput handler: 400 with the reason)."""
    clean_text(["not", "a", "text"], field="the comment", max_length=10)
    return "stored"


PROBES: Final = {PROBE_FORM: (probe_form, ["POST"]), PROBE_REFUSES: (probe_refuses, ["GET"])}


@pytest.fixture(scope="session")
def web_app(tmp_path_factory: pytest.TempPathFactory, embedded_redis: EmbeddedRedis) -> Iterator[Dash]:
    """The process's one web app (Dash serves one app per process), built once for the test session through
    app_factory.create_app with the default settings, on the session's embedded Redis and a data folder of its own,
    plus two probe routes added before its first request (PROBES: tests of what the server does with any route).
    Tests use it through `make_app`, which attaches their own settings."""
    from app_factory import create_app
    from callbacks import resources_of

    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("web-app") / "data", redis_url=embedded_redis.url))
    for path, (view, methods) in PROBES.items():
        app.server.add_url_rule(path, view.__name__, view, methods=methods)
    yield app
    resources_of(app.server).close()


@pytest.fixture
def make_app(tmp_path: Path, embedded_redis: EmbeddedRedis, web_app: Dash) -> Iterator[Callable[..., Dash]]:
    """The one web app (web_app) serving with the settings given while the test runs (`redis_url=..., namespace=...`;
    the data folder the test's own; Redis by default the session's embedded one, so the app starts no server of its
    own that would outlive the test): fresh callbacks.Resources of those settings are attached to it
    (app_factory.serving), closed afterwards, and the app's own attached again. Every setting reaches the app through
    them, read at each request, so it serves as an app built with those settings would. Once per test: the one app
    serves one set of settings at a time."""
    from app_factory import serving

    made: list[Dash] = []
    with contextlib.ExitStack() as stack:

        def make(**values: Any) -> Dash:
            if made:
                raise RuntimeError("make_app once per test: the process's one app serves one set of settings")
            settings = Settings(**{"data_dir": tmp_path / "data", "redis_url": embedded_redis.url, **values})
            made.append(stack.enter_context(serving(settings)))
            assert made[0] is web_app
            return web_app

        yield make
