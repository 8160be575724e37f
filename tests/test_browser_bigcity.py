"""A big city's wall in headless Chromium: a generated city of 1,000 sensors (small enough for CI; the 10,000-sensor
figures are benchmarks/bigcity.py's) served by `ioc web`, fed by the aggregator. Its map fetches the geometry once,
draws the road segments on a canvas, clusters every sensor layer by worst state, and shows a change of 1 % of the
sensors from the small change the tick sends."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bigcity import CHROMIUM, CHROMIUM_ARGS, Flipper, feed_normal_day
from ioc.aggregator import Aggregator
from ioc.city import City, load_city
from ioc.db import open_database
from ioc.embedded import EmbeddedRedis
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from layouts.wall import ids
from simulators.citygen import write_city
from tests.conftest import wipe_namespace
from tests.sessions import new_display_token
from tests.webserver import WebServer, server_env

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


def held_state(page: Any, sensor: str) -> str:
    """The state the page's map holds for a sensor (assets/wall_map.js), "unknown" when none."""
    held = json.loads(page.evaluate("JSON.stringify(window.wallMap.status().held)"))
    return next((layer[sensor] for layer in held.values() if sensor in layer), "unknown")


def wait_for(page: Any, check: Any, timeout_s: float, what: str) -> None:
    """Until `check()` is true, asking every 100 ms (the page's requests go on meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        page.wait_for_timeout(100)


@pytest.fixture
def big_wall(embedded_redis: EmbeddedRedis, tmp_path: Path) -> Iterator[tuple[WebServer, str, City, Flipper]]:
    """`ioc web` serving a generated 1,000-sensor city, its state fed; a display token's secret; the state changer."""
    write_city(tmp_path / "city", 1000, 400, seed=5)
    city = load_city(tmp_path / "city")
    keys = Keys(f"bigcity-{uuid.uuid4().hex[:8]}")
    client = connect_url(embedded_redis.url)
    aggregator = Aggregator(client, keys, city, consumer="test-bigcity")
    aggregator.setup()
    data = tmp_path / "data"
    env = server_env(
        data,
        IOC_REDIS_URL=embedded_redis.url,
        IOC_NAMESPACE=keys.namespace,
        IOC_CITY_DIR=str(tmp_path / "city"),
        IOC_WEB_WORKERS="2",  # the map's versions are shared between the two
        IOC_LANGUAGE="vi",
    )
    server = WebServer(env, tmp_path / "web.log")
    try:
        last = feed_normal_day(client, keys, city, aggregator, seed=5)
        server.start()
        database = open_database(Settings(data_dir=data))
        try:
            _, secret = new_display_token(database)
        finally:
            database.close()
        yield server, secret, city, Flipper(client, keys, city, aggregator, last, seed=5)
    finally:
        server.stop()
        aggregator.close()
        wipe_namespace(client, keys)
        client.close()


def test_a_big_city_renders_on_canvas_and_shows_a_change(
    big_wall: tuple[WebServer, str, City, Flipper], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    server, secret, city, flipper = big_wall
    geometry: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1920, "height": 1080},
        )
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.route(
                "**/*", lambda route: route.continue_() if route.request.url.startswith(server.url) else route.abort()
            )
            page.on("response", lambda r: geometry.append(r.url) if "/city/geometry/" in r.url else None)
            page.goto(f"{server.url}/display?token={secret}")

            def status() -> dict[str, Any]:
                return dict(json.loads(page.evaluate("JSON.stringify(window.wallMap ? window.wallMap.status() : {})")))

            wait_for(
                page,
                lambda: status().get("applied", 0) > 0 and status()["drawn"].get(ids.SEGMENTS, 0) == len(city.segments),
                90,
                "every segment drawn and a map state applied",
            )
            # The segments are drawn on a canvas, not as an SVG element each; sensors come as clusters.
            assert page.locator(".leaflet-overlay-pane canvas").count() >= 1
            assert page.locator(".leaflet-overlay-pane path.wall-seg").count() == 0
            page.locator(".wall-cluster").first.wait_for(state="attached")
            assert len(geometry) == 6 and all("?v=" in url for url in geometry)  # each layer's file once
            before = status()["version"]

            changed = flipper.flip()  # 10 sensors go offline
            wait_for(
                page,
                lambda: all(held_state(page, sensor) == "offline" for sensor in changed),
                30,
                "the changed sensors shown offline",
            )
            assert status()["version"] != before
            # A cluster holding one of them takes the worst state inside: "offline" unless something worse is there.
            worst = page.evaluate(
                "Array.from(document.querySelectorAll('.wall-cluster')).map(e => e.className).join(' ')"
            )
            assert "wall-state--" in worst
            back = flipper.flip()  # 10 others (one of the first ten may come back online)
            fresh = next(sensor for sensor in back if sensor not in changed)
            wait_for(page, lambda: held_state(page, fresh) == "offline", 30, "the second change shown")
            assert all(held_state(page, sensor) == "offline" for sensor in changed if sensor not in back)
            assert len(geometry) == 6  # the geometry is not fetched again
        finally:
            context.close()
