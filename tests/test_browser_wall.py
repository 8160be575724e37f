"""The wall in a real browser: `ioc web` (gunicorn) serving the app, the simulator and the aggregator feeding
embedded Redis; the browser is a wall screen signed in with its display token, or an operator signed in."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from playwright.sync_api import expect

from callbacks.auth.gate import GEOMETRY_PREFIX
from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.db import open_database
from ioc.embedded import EmbeddedRedis
from ioc.events import FloodWaterLevelObserved, encode_event
from ioc.identity.roles import Role
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.snapshot import read_wall_snapshot
from ioc.store import connect_url
from simulators import SimEvent, run_simulation, write_events
from tests.conftest import wipe_namespace
from tests.sessions import new_account, new_display_token, sign_in_browser
from tests.webserver import WebServer, server_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REFRESH_MS = 1000
TIMEOUT_MS = 30_000


@contextmanager
def chromium(profile: Path, width: int, height: int) -> Iterator[Any]:
    """A headless Debian Chromium (never a downloaded one) with a fresh profile and this window size; closed after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()


@contextmanager
def local_page(profile: Path, width: int, height: int, timeout_ms: int) -> Iterator[Any]:
    """One page of a fresh Chromium profile that may reach this machine only (any other address is aborted)."""
    with chromium(profile, width, height) as context:
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        context.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url else route.abort())
        yield page


SEGMENT_PATHS = ".leaflet-overlay-pane path.wall-seg"


def wait_in_page(page: Any, expression: str, timeout_s: float) -> None:
    """Wait until a JavaScript expression is true in the page, asking it every 100 ms. Not Playwright's
    wait_for_function, whose polling evaluates the text with eval(), which the pages' policy (no unsafe-eval)
    refuses; page.evaluate runs through the DevTools protocol, outside the page's policy."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        page.wait_for_timeout(100)


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


def settled_clock(client: redis.Redis, keys: Keys, city: City, timeout: float = 20.0) -> float:
    """The city clock once the aggregator has worked through everything written (it stops moving)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        clock = read_wall_snapshot(client, keys, city, stale_after_s=60).clock
        if clock is not None and clock == last:
            return clock
        last = clock
        time.sleep(0.5)
    raise AssertionError("the aggregator did not settle")


@dataclass
class Feed:
    """The simulator and the aggregator running in background threads on one namespace."""

    keys: Keys
    sim_stop: threading.Event = field(default_factory=threading.Event)
    agg_stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)


@pytest.fixture
def feed(embedded_redis: EmbeddedRedis, city: City) -> Iterator[Feed]:
    """A live city at 600x speed: simulator and aggregator in threads, namespace wiped afterwards."""
    client = connect_url(embedded_redis.url)
    feed = Feed(Keys(f"b{uuid.uuid4().hex[:10]}"))
    agg = Aggregator(client, feed.keys, city, consumer="browser-test")
    agg.setup()
    start = datetime.now(ZoneInfo(city.timezone))
    feed.threads = [
        threading.Thread(target=agg.run_forever, args=(feed.agg_stop,), daemon=True),
        threading.Thread(
            target=run_simulation,
            args=(client, feed.keys, city, "normal-day"),
            kwargs={"seed": 5, "speed": 600, "start": start, "stop": feed.sim_stop},
            daemon=True,
        ),
    ]
    for thread in feed.threads:
        thread.start()
    yield feed
    feed.sim_stop.set()
    feed.agg_stop.set()
    for thread in feed.threads:
        thread.join(timeout=15)
    wipe_namespace(client, feed.keys)
    client.close()


@dataclass
class Web:
    """The served app, a wall screen's display-token secret and an operator's user name (password: PASSWORD)."""

    server: WebServer
    display_token: str
    operator: str

    @property
    def url(self) -> str:
        """Base URL of the app."""
        return self.server.url


@pytest.fixture
def web(embedded_redis: EmbeddedRedis, feed: Feed, tmp_path: Path) -> Iterator[Web]:
    """The app under `ioc web` (one worker), reading the feed's namespace, with its own SQLite database holding a
    display token and an operator account."""
    data = tmp_path / "data"
    env = server_env(
        data,
        IOC_REDIS_URL=embedded_redis.url,
        IOC_NAMESPACE=feed.keys.namespace,
        IOC_WEB_WORKERS="1",
        IOC_WALL_REFRESH_MS=str(REFRESH_MS),
        IOC_LANGUAGE="vi",
    )
    server = WebServer(env, tmp_path / "web.log")
    server.start()  # migrates the database
    try:
        database = open_database(Settings(data_dir=data))
        try:
            _, secret = new_display_token(database)
            operator = new_account(database, Role.OPERATOR).username
        finally:
            database.close()
        yield Web(server, secret, operator)
    finally:
        server.stop()


@pytest.mark.slow
def test_wall_lives_in_a_browser(web: Web, feed: Feed, embedded_redis, city: City, repo_root: Path, tmp_path):

    artifacts = repo_root / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    console_errors: list[str] = []
    failed: list[str] = []
    with chromium(tmp_path / "profile", 1920, 1080) as context:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        # Nothing leaves the machine: map tiles or anything else off the app's origin is refused.
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(web.url) else route.abort())
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        # A tick still in flight when the page navigates is cancelled (net::ERR_ABORTED): not a failure of the app.
        page.on(
            "requestfailed",
            lambda r: (
                failed.append(f"{r.url} {r.failure}")
                if r.url.startswith(web.url) and "ERR_ABORTED" not in (r.failure or "")
                else None
            ),
        )
        page.on("response", lambda r: failed.append(f"{r.url} {r.status}") if r.status >= 400 else None)

        page.goto(f"{web.url}/display?token={web.display_token}")  # a wall screen's address: on to the wall
        assert page.url == web.url + "/"
        # The Leaflet map draws every road segment as an SVG path.
        page.locator(SEGMENT_PATHS).nth(len(city.segments) - 1).wait_for(state="attached")
        # Live data arrives: the speed KPI gets a value, and then a different one as events keep flowing.
        speed = page.locator(".wall-kpi-value").nth(1)
        expect(speed).not_to_have_text("—", timeout=TIMEOUT_MS)
        first = speed.text_content() or ""
        expect(speed).not_to_have_text(first, timeout=TIMEOUT_MS)
        page.locator(f"{SEGMENT_PATHS}:not(.wall-seg--unknown)").first.wait_for(state="attached")  # one has a band
        page.locator("#wall-chart .scatterlayer .trace").nth(1).wait_for(state="attached")
        assert page.locator(".wall-title").text_content() == "Trung tâm Điều hành Đô thị thông minh Tam Kỳ"
        assert page.locator("#shell-nav").is_hidden()  # the kiosk look: no navigation for a display token
        page.wait_for_timeout(1500)  # let the chart and map settle for the picture (not a synchronisation)
        page.screenshot(path=str(artifacts / "wall.png"))

        # A BĐ III reading takes over the wall: banner, pulsing station, map flown to it.
        feed.sim_stop.set()
        feed.threads[1].join(timeout=15)
        client = connect_url(embedded_redis.url)
        clock = settled_clock(client, feed.keys, city)  # a reading older than the last one would be ignored
        station = city.sensors["wl-tam-ky"]
        at = datetime.fromtimestamp(clock + 60, ZoneInfo(city.timezone))
        fields = encode_event(
            FloodWaterLevelObserved(v=1, type="flood.water_level.observed", ts=at, sensor=station.id, level_m=2.95)
        )
        write_events(client, feed.keys, [SimEvent(at.timestamp(), "flood", fields)], 10_000)
        client.close()
        banner = page.locator(".wall-banner--critical")
        banner.wait_for(state="visible")
        assert station.name in (banner.text_content() or "")
        page.locator(".wall-pin.is-focus").wait_for(state="visible")
        page.wait_for_timeout(1500)  # the fly-to animation, for the picture
        page.screenshot(path=str(artifacts / "wall-takeover.png"))

        page.goto(web.url + "/?lang=en")
        page.locator(".wall-title", has_text="Tam Ky Intelligent Operations Centre").wait_for()
        page.locator(".wall-banner--critical", has_text="Alarm III").wait_for()
        assert not console_errors, console_errors
        assert not failed, failed

        # The server goes away: the page says so by itself, and the banner leaves once ticks come back.
        # The session (its key kept in the data folder) outlives the restart.
        lost = page.locator("#wall-stale-client")
        web.server.stop()
        lost.wait_for(state="visible", timeout=10 * REFRESH_MS)
        web.server.start()
        lost.wait_for(state="hidden", timeout=10 * REFRESH_MS)
        # The push stream came back by itself too (the browser reconnects; refused meanwhile, it tries again later).
        wait_in_page(page, "document.documentElement.dataset.wallPush === 'open'", timeout_s=70)


WATCHDOG_MS = 2000


@pytest.mark.slow
def test_page_reloads_itself_when_its_scripts_failed(web: Web, city: City, tmp_path: Path) -> None:
    from playwright.sync_api import Route

    started = time.monotonic()
    documents: list[float] = []  # when the page itself was requested (the first load and each reload)
    probes: list[float] = []  # when the watchdog asked whether the server answers before reloading
    renderer_requests: list[float] = []

    def route(route: Route) -> None:
        request, at = route.request, time.monotonic() - started
        if not request.url.startswith(web.url):
            route.abort()
        elif request.resource_type == "document":
            documents.append(at)
            route.continue_()
        elif request.resource_type == "fetch" and not any(
            part in request.url
            for part in ("/_dash-", "/auth/status", GEOMETRY_PREFIX)  # the map's files too
        ):
            probes.append(at)
            if len(probes) == 1:
                route.abort()  # the server seems away: no reload then (it would strand the browser on an error page)
            else:
                route.continue_()
        elif "dash_renderer" in request.url:
            renderer_requests.append(at)
            if len(renderer_requests) <= 2:
                route.fulfill(status=500, body="boom")  # as in the first-request race: the page stays on "Loading..."
            else:
                route.continue_()
        else:
            route.continue_()

    with chromium(tmp_path / "profile", 1920, 1080) as context:
        sign_in_browser(context, web.url, web.operator)  # an operator this time, signed in before any page
        page = context.new_page()
        page.route("**/*", route)
        page.goto(f"{web.url}/?watchdog_ms={WATCHDOG_MS}")
        # By itself, with no one touching it: the wall is drawn after the reloads.
        page.locator(SEGMENT_PATHS).nth(len(city.segments) - 1).wait_for(state="attached", timeout=60_000)
        assert len(renderer_requests) == 3 and len(documents) == 3, (documents, renderer_requests)
        # Each wait doubles: the first load waits 1x and its first probe fails (so 2x more), the second 4x.
        base = WATCHDOG_MS / 1000
        assert len(probes) == 3 and probes[0] >= documents[0] + base, (documents, probes)
        assert documents[1] - documents[0] >= base + 2 * base, documents
        assert documents[2] - documents[1] >= 4 * base, documents
        # Rendered: the back-off starts from the beginning again next time.
        wait_in_page(page, "sessionStorage.getItem('ioc-page-reloads') === null", timeout_s=10)
