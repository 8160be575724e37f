"""Sign-in in a real browser (Chromium through Playwright) against `ioc web`: the login form's messages in the
chosen language, the wall with the navigation after a right password, signing out; and a wall screen whose
display token is revoked while it is open turning into "access revoked"."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ioc.db import Database, open_database
from ioc.embedded import EmbeddedRedis
from ioc.identity.roles import Role
from ioc.identity.tokens import revoke_display_token
from ioc.settings import Settings
from tests.sessions import PASSWORD, new_account, new_display_token
from tests.test_browser_wall import CHROMIUM, local_page
from tests.webserver import WebServer, server_env

REFRESH_MS = 1000
WATCH_MS = 500  # the access watch's interval, shortened through the page's address (?access_watch_ms=)
TIMEOUT_MS = 20_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@dataclass
class Site:
    """The served app and its database (opened by the test too)."""

    server: WebServer
    database: Database

    @property
    def url(self) -> str:
        """Base URL of the app."""
        return self.server.url


@contextmanager
def served_site(root: Path, redis_url: str, **env: str) -> Iterator[Site]:
    """`ioc web` on an SQLite database of its own in `root`, in a namespace of its own, with these IOC_* settings;
    the database opened by the test too."""
    namespace = f"b{uuid.uuid4().hex[:8]}"
    variables = server_env(root / "data", IOC_REDIS_URL=redis_url, IOC_NAMESPACE=namespace, **env)
    server = WebServer(variables, root / "web.log")
    server.start()  # migrates the database
    try:
        # the web's Redis and namespace too: the test's changes are announced where the web looks (as `ioc users`)
        database = open_database(Settings(data_dir=root / "data", redis_url=redis_url, namespace=namespace))
        try:
            yield Site(server, database)
        finally:
            database.close()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def site(embedded_redis: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`ioc web` (one worker); no live data is needed to see the wall's frame."""
    root = tmp_path_factory.mktemp("browser-auth")
    with served_site(
        root, embedded_redis.url, IOC_WEB_WORKERS="1", IOC_WALL_REFRESH_MS=str(REFRESH_MS), IOC_LANGUAGE="vi"
    ) as served:
        yield served


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile with one page; nothing leaves the machine."""
    with local_page(tmp_path / "profile", 1600, 900, TIMEOUT_MS) as page:
        yield page


def test_login_in_the_chosen_language_then_the_wall_then_sign_out(site: Site, browser: Any) -> None:
    page = browser
    operator = new_account(site.database, Role.OPERATOR)

    page.goto(site.url + "/")  # no session: the login, in Vietnamese by default
    assert page.url == f"{site.url}/login?next=%2F"
    page.fill("#login-username", operator.username)
    page.fill("#login-password", "not the password")
    page.click("#login-submit")
    problem = page.locator("#login-problem")
    problem.wait_for()
    assert problem.text_content() == "Sai tên đăng nhập hoặc mật khẩu."
    assert page.locator("#login-username").input_value() == operator.username  # kept; the password is not
    assert page.locator("#login-password").input_value() == ""

    page.goto(site.url + "/login?lang=en")
    page.fill("#login-username", operator.username)
    page.fill("#login-password", "still not the password")
    page.click("#login-submit")
    assert page.locator("#login-problem").text_content() == "Wrong user name or password."

    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{site.url}/?lang=en")
    page.locator(".wall-title", has_text="Tam Ky Intelligent Operations Centre").wait_for()
    user = page.locator("#shell-nav-user")
    user.wait_for()
    assert user.text_content() == f"{operator.username} · operator"
    sign_out = page.locator("#shell-nav-logout")
    assert sign_out.is_visible() and sign_out.text_content() == "Sign out"

    sign_out.click()
    page.wait_for_url(f"{site.url}/login?lang=en")
    assert page.locator("#login-submit").text_content() == "Sign in"
    page.goto(site.url + "/")  # signed out for good
    assert page.url.startswith(f"{site.url}/login")


def test_revoked_display_token_turns_its_open_wall_into_access_revoked(site: Site, browser: Any) -> None:
    page = browser
    token, secret = new_display_token(site.database)
    page.goto(f"{site.url}/display?token={secret}")
    assert page.url == site.url + "/"
    page.goto(f"{site.url}/?access_watch_ms={WATCH_MS}")
    page.locator(".wall-title").wait_for()
    assert page.locator("#shell-nav").is_hidden()  # the kiosk wall: no navigation
    with page.expect_response(lambda r: "/_dash-update-component" in r.url and r.status == 200):
        pass  # the wall ticks

    revoke_display_token(site.database, token.name, actor="test")
    notice = page.locator("#ioc-access-revoked")
    notice.wait_for(timeout=WATCH_MS + 8000)  # within the watch's interval and a request's time on a busy machine
    assert "Access revoked" in (notice.text_content() or "")
    assert page.locator(".wall-title").is_hidden() and page.locator("#react-entry-point").is_hidden()
    with page.expect_response(lambda r: "/_dash-update-component" in r.url) as tick:
        pass
    assert tick.value.status == 401  # its ticks are refused meanwhile
    assert tick.value.json() == {"error": "login required"}

    page.reload()  # after a reload (e.g. the page watchdog's) it still says so, and offers no login form
    assert page.locator("h1").text_content() == "Quyền truy cập đã bị thu hồi"
    assert page.locator("#login-form").count() == 0


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two bounding boxes (Playwright's x, y, width, height) overlap."""
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and (b["y"] < a["y"] + a["height"])
    )


@pytest.mark.parametrize(("width", "height"), [(1600, 900), (1280, 720), (3840, 2160)])
def test_the_navigation_covers_nothing_of_the_wall_for_a_signed_in_person(
    site: Site, tmp_path: Path, width: int, height: int
) -> None:
    operator = new_account(site.database, Role.OPERATOR)
    with local_page(tmp_path / "profile", width, height, TIMEOUT_MS) as page:
        page.goto(site.url + "/login")
        page.fill("#login-username", operator.username)
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.locator("#shell-nav-user").wait_for()
        incidents = page.locator(".wall-panel--incidents").bounding_box()
        nav = page.locator("#shell-nav").bounding_box()
        assert incidents is not None and nav is not None
        page.screenshot(path=str(tmp_path / f"wall-{width}x{height}.png"))
        assert not overlap(nav, incidents), (nav, incidents)
        assert incidents["y"] + incidents["height"] <= nav["y"]  # the strip whole, above the navigation
        assert nav["y"] + nav["height"] <= height  # and the navigation on the screen


def test_in_app_navigation_to_an_unknown_address_shows_the_shells_not_found_page(site: Site, browser: Any) -> None:
    page = browser
    manager = new_account(site.database, Role.MANAGER)
    page.goto(site.url + "/login?lang=vi")
    page.fill("#login-username", manager.username)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.locator("#shell-nav-user").wait_for()
    assert page.locator("#shell-nav a[href*='not-found']").count() == 0  # never listed in the navigation
    # In-app navigation (no page load) to an address with no page, as a stale link or a typed route would do.
    page.evaluate(
        "window.history.pushState({}, '', '/trainer?lang=vi'); window.dispatchEvent(new PopStateEvent('popstate'))"
    )
    found = page.locator("#auth-not-found")
    found.wait_for()
    assert found.locator("h1").text_content() == "Không tìm thấy trang"
    assert "404 - Page not found" not in page.content()
    reply = page.request.get(site.url + "/trainer?lang=en")  # loaded from the browser: HTTP 404, in English
    assert reply.status == 404 and "Page not found" in reply.text()
    assert page.request.get(site.url + "/not-found").status == 404  # the page's own address is no page either
