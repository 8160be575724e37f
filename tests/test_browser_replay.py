"""The wall's replay slider in a real browser: `ioc web` (gunicorn) serving the wall of a city fed by the simulator at
×600 and the aggregator, with the replay runner in a thread; an operator opens a replay, drags the slider back, sees
the city as it was (marked PHÁT LẠI), plays it forward, and goes back to live."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ioc.city import City
from ioc.clock import TimeCheck
from ioc.embedded import EmbeddedRedis
from ioc.replay.registry import home
from ioc.replay.runner import ReplayRunner
from ioc.store import connect_url
from tests.conftest import wipe_namespace
from tests.sessions import sign_in_browser
from tests.test_browser_wall import (  # noqa: F401  (fixtures)
    CHROMIUM,
    TIMEOUT_MS,
    Feed,
    Web,
    chromium,
    feed,
    wait_in_page,
    web,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture
def replayer(embedded_redis: EmbeddedRedis, feed: Feed, city: City) -> Iterator[None]:  # noqa: F811
    """The replay runner of the feed's namespace, in a thread."""
    client = connect_url(embedded_redis.url)
    stop = threading.Event()
    runner = ReplayRunner(client, feed.keys.namespace, city, idle_s=60, time_check=TimeCheck())
    thread = threading.Thread(target=runner.run_forever, args=(stop,), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=15)
    wipe_namespace(client, home(feed.keys.namespace))
    client.close()


def city_clock(page: object) -> str:
    """The wall's city clock as shown (HH:MM:SS)."""
    text: str = page.locator("#wall-clock").text_content() or ""  # type: ignore[attr-defined]
    return text[:8]


@pytest.mark.slow
def test_an_operator_drags_the_wall_back_plays_it_and_returns_to_live(
    web: Web,  # noqa: F811
    feed: Feed,  # noqa: F811
    replayer: None,
    city: City,
    repo_root: Path,
    tmp_path: Path,
) -> None:
    artifacts = repo_root / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with chromium(tmp_path / "profile", 1920, 1080) as context:
        sign_in_browser(context, web.url, web.operator)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(web.url) else route.abort())
        page.goto(f"{web.url}/")
        speed = page.locator(".wall-kpi-value").nth(1)
        page.wait_for_timeout(6000)  # some minutes of the city's history to go back into (×600)
        assert speed.text_content() != "—"

        page.locator("#wall-replay-open").click()
        page.locator("#wall-replay-panel").wait_for(state="visible")
        marker = page.locator("#wall-replay-marker")
        marker.wait_for(state="visible")
        assert "PHÁT LẠI" in (marker.text_content() or "")
        assert "Lịch sử từ" in (page.locator("#wall-replay-reach").text_content() or "")

        rail = page.locator("#wall-replay-slider")  # near the start of the history kept
        box = rail.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] / 2)
        page.wait_for_timeout(2500)  # the runner builds it, the next tick shows it
        replayed = city_clock(page)
        shown_moment = (marker.text_content() or "")[:25]
        page.screenshot(path=str(artifacts / "wall-replay.png"))

        page.locator("#wall-replay-speed").click()
        page.get_by_text("×60", exact=True).click()
        page.keyboard.press("Escape")
        page.locator("#wall-replay-play").click()
        page.locator("#wall-replay-play", has_text="Dừng").wait_for()  # playing
        wait_in_page(
            page,
            f"!document.getElementById('wall-replay-marker').textContent.startsWith({shown_moment!r})",
            timeout_s=20,
        )  # the moment shown moves on
        assert city_clock(page) != replayed

        page.locator("#wall-replay-live").click()
        marker.wait_for(state="hidden")
        page.locator("#wall-replay-panel").wait_for(state="hidden")
        page.wait_for_timeout(2500)
        assert city_clock(page) > replayed or city_clock(page) < "01"  # live again (past midnight aside)
