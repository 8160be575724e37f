"""Push in a real browser: a wall screen (display token) under `ioc web`, the aggregator feeding embedded Redis. With
the poll interval at a minute, a reading reaches the screen in seconds: only push explains it. With the push stream
failing, the screen still updates by polling and shows no warning. Through a Redis restart (a server of the test's
own, stopped and started again) the screen, push on and polling at a minute, shows the truth again by push."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.db import open_database
from ioc.embedded import EmbeddedRedis
from ioc.events import FloodWaterLevelObserved, encode_event
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from simulators import SimEvent, write_events
from tests.conftest import wipe_namespace
from tests.sessions import new_display_token
from tests.test_browser_wall import CHROMIUM, SEGMENT_PATHS, chromium, wait_in_page
from tests.webserver import WebServer, server_env

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]

STATION = "wl-tam-ky"
LONG_POLL_MS = 60_000  # the longest poll the settings allow: a change seen within seconds came by push
SHORT_POLL_MS = 1_000


@dataclass
class Screen:
    """The served app (its poll interval), a display token's secret, the namespace and its Redis URL."""

    server: WebServer
    secret: str
    keys: Keys
    redis_url: str
    refresh_ms: int


@contextmanager
def serving(redis_url: str, city: City, tmp_path: Path, refresh_ms: int, **env_values: str) -> Iterator[Screen]:
    """`ioc web` (one worker, English, this poll interval, other settings given) on `redis_url` and the aggregator in
    a thread."""
    keys = Keys(f"w{uuid.uuid4().hex[:10]}")
    client = connect_url(redis_url)
    aggregator = Aggregator(client, keys, city, consumer="push-test")
    aggregator.setup()
    stop = threading.Event()
    thread = threading.Thread(target=aggregator.run_forever, args=(stop,), kwargs={"idle_wait_s": 0.05}, daemon=True)
    thread.start()
    data = tmp_path / "data"
    env = server_env(
        data,
        IOC_REDIS_URL=redis_url,
        IOC_NAMESPACE=keys.namespace,
        IOC_WEB_WORKERS="1",
        IOC_WALL_REFRESH_MS=str(refresh_ms),
        IOC_PUSH_CHECK_MS="100",
        IOC_LANGUAGE="en",
        **env_values,
    )
    server = WebServer(env, tmp_path / "web.log")
    server.start()
    try:
        database = open_database(Settings(data_dir=data))
        try:
            _, secret = new_display_token(database)
        finally:
            database.close()
        yield Screen(server, secret, keys, redis_url, refresh_ms)
    finally:
        server.stop()
        stop.set()
        thread.join(timeout=15)
        wipe_namespace(client, keys)
        client.close()


@pytest.fixture
def screen(
    request: pytest.FixtureRequest, embedded_redis: EmbeddedRedis, city: City, tmp_path: Path
) -> Iterator[Screen]:
    """`ioc web` (one worker, English, the poll interval of the test's parameter) and the aggregator in a thread."""
    with serving(embedded_redis.url, city, tmp_path, int(request.param)) as served:
        yield served


def write_level(screen: Screen, city: City, level_m: float) -> None:
    """A water level reading at the station, now (the aggregator takes it into the live state)."""
    client = connect_url(screen.redis_url)
    try:
        at = datetime.now(ZoneInfo(city.timezone))
        fields = encode_event(
            FloodWaterLevelObserved(v=1, type="flood.water_level.observed", ts=at, sensor=STATION, level_m=level_m)
        )
        write_events(client, screen.keys, [SimEvent(at.timestamp(), "flood", fields)], 10_000)
    finally:
        client.close()


def open_wall(page: Any, screen: Screen, city: City) -> None:
    """The screen signs in with its display token's link and shows the wall."""
    page.goto(f"{screen.server.url}/display?token={screen.secret}")
    page.locator(SEGMENT_PATHS).nth(len(city.segments) - 1).wait_for(state="attached")


@pytest.mark.parametrize("screen", [LONG_POLL_MS], indirect=True)
def test_a_change_reaches_the_wall_by_push_long_before_the_next_poll(screen: Screen, city: City, tmp_path: Path):
    with chromium(tmp_path / "profile", 1600, 900) as context:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(screen.server.url) else r.abort())
        open_wall(page, screen, city)
        wait_in_page(page, "document.documentElement.dataset.wallPush === 'open'", timeout_s=15)
        latencies = []
        for level in (1.23, 1.47, 1.61):
            written = time.monotonic()
            write_level(screen, city, level)
            wait_in_page(page, _shows(level), timeout_s=10)
            latencies.append(time.monotonic() - written)
        assert max(latencies) < LONG_POLL_MS / 1000 / 4, latencies  # polling would take up to a minute
        print(f"push: XADD to screen {[round(x * 1000) for x in latencies]} ms")


@pytest.mark.parametrize("screen", [SHORT_POLL_MS], indirect=True)
def test_the_wall_still_updates_by_polling_when_push_fails(screen: Screen, city: City, tmp_path: Path):
    from playwright.sync_api import Route

    pushes: list[str] = []

    def route(r: Route) -> None:
        if not r.request.url.startswith(screen.server.url):
            r.abort()
        elif "/push/" in r.request.url:
            pushes.append(r.request.url)
            r.fulfill(status=502, body="bad gateway")
        else:
            r.continue_()

    with chromium(tmp_path / "profile", 1600, 900) as context:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.route("**/*", route)
        open_wall(page, screen, city)
        wait_in_page(page, "document.documentElement.dataset.wallPush === 'off'", timeout_s=15)
        write_level(screen, city, 1.37)
        wait_in_page(page, _shows(1.37), timeout_s=15)
        assert pushes  # push was tried, and failed
        # Nothing alarming: the "lost contact" banner stays hidden while the ticks come back.
        assert page.locator("#wall-stale-client").is_hidden()


def test_the_wall_shows_the_truth_again_by_push_after_a_redis_restart(city: City, tmp_path: Path) -> None:
    redis_server = EmbeddedRedis(tmp_path / "redis")
    redis_server.start()
    try:
        with (
            serving(redis_server.url, city, tmp_path, LONG_POLL_MS) as screen,
            chromium(tmp_path / "profile", 1600, 900) as context,
        ):
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(screen.server.url) else r.abort())
            open_wall(page, screen, city)
            wait_in_page(page, "document.documentElement.dataset.wallPush === 'open'", timeout_s=15)
            write_level(screen, city, 1.23)
            wait_in_page(page, _shows(1.23), timeout_s=10)
            redis_server.stop()  # SIGTERM: Redis saves its data and exits, as in a restart for maintenance
            time.sleep(4)  # longer than the stream's re-check of its session (RECHECK_S), which meets the outage
            redis_server.start()
            write_level(screen, city, 1.47)
            # Polling is a minute away: only push (its stream kept, or opened again) brings the new value this soon.
            wait_in_page(page, _shows(1.47), timeout_s=25)
            wait_in_page(page, "document.documentElement.dataset.wallPush === 'open'", timeout_s=15)
            write_level(screen, city, 1.61)
            wait_in_page(page, _shows(1.61), timeout_s=10)
            assert page.locator("#wall-stale-client").is_hidden()
    finally:
        redis_server.stop()


def test_a_stream_at_its_age_is_opened_again_at_once_and_still_rings(city: City, tmp_path: Path) -> None:
    redis_server = EmbeddedRedis(tmp_path / "redis")
    redis_server.start()
    opened: list[float] = []
    try:
        with (
            serving(redis_server.url, city, tmp_path, LONG_POLL_MS, IOC_PUSH_MAX_AGE_S="10") as screen,
            chromium(tmp_path / "profile", 1600, 900) as context,
        ):
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.on("request", lambda r: opened.append(time.monotonic()) if "/push/wall" in r.url else None)
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(screen.server.url) else r.abort())
            open_wall(page, screen, city)
            wait_in_page(page, "document.documentElement.dataset.wallPush === 'open'", timeout_s=15)
            page.evaluate(WATCH_PUSH_STATES)
            deadline = time.monotonic() + 20  # the age is 7.5 to 12.5 s
            while len(opened) < 2 and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            assert len(opened) >= 2, "the stream was not opened again after its age"
            wait_in_page(page, "document.documentElement.dataset.wallPush === 'open'", timeout_s=5)
            write_level(screen, city, 1.52)
            wait_in_page(page, _shows(1.52), timeout_s=10)  # the new stream rings (polling is a minute away)
            # At once: never "off", the mark of a failed stream waiting out its back-off (2 s and more).
            assert "off" not in page.evaluate("window.__pushStates"), page.evaluate("window.__pushStates")
    finally:
        redis_server.stop()
    assert 7.0 <= opened[1] - opened[0] <= 14.0, opened


WATCH_PUSH_STATES = """() => { window.__pushStates = [];
    new MutationObserver(() => window.__pushStates.push(document.documentElement.dataset.wallPush))
        .observe(document.documentElement, {attributes: true, attributeFilter: ['data-wall-push']}); }"""


def _shows(level: float) -> str:
    """A page expression: the station's gauge shows this level."""
    return f"""(() => {{ const el = [...document.querySelectorAll('.wall-gauge-value')]
        .find(e => (e.id || '').includes('{STATION}')); return !!el && el.textContent.includes('{level:.2f}'); }})()"""
