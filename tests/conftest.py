"""Shared fixtures: real Redis servers (embedded 6.2, and the server at IOC_TEST_REDIS_URL when set), one
throw-away key namespace per test, removed afterwards, and web apps built through the app factory."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from dash import Dash

from ioc.city import City, load_city
from ioc.embedded import EmbeddedRedis
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url

BACKENDS = ["embedded", "server"]


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


@pytest.fixture(scope="session")
def city() -> City:
    """The default city (Tam Kỳ)."""
    return load_city()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's top folder."""
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Dash]]:
    """Build web apps through app_factory.create_app with the settings given (`redis_url=..., namespace=...`; the
    data folder is the test's own); their Redis clients are closed afterwards."""
    from app_factory import create_app
    from callbacks import resources_of

    made: list[Dash] = []

    def make(**values: Any) -> Dash:
        app = create_app(Settings(**{"data_dir": tmp_path / "data", **values}))
        made.append(app)
        return app

    yield make
    for app in made:
        resources_of(app.server).close()
