"""Security headers in a real browser: with the Content-Security-Policy on (scripts by hash only, no framing), the
login, the wall, the incidents, the managers' and the admin pages work in Chromium against `ioc web`, with no
policy violation reported; and another page cannot frame them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.browser import UrlHttp
from ioc.embedded import EmbeddedRedis
from ioc.identity.roles import Role
from layouts.admin import ids as admin_ids
from layouts.incidents import ids as incidents_ids
from layouts.managers import ids as managers_ids
from tests.sessions import PASSWORD, new_account, new_display_token
from tests.test_browser_auth import Site, served_site
from tests.test_browser_wall import CHROMIUM, local_page

TIMEOUT_MS = 30_000
# Recorded in the page from its first script on: every CSP violation the browser reports.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def site(embedded_redis: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`ioc web` (two workers) on an SQLite database of its own."""
    with served_site(
        tmp_path_factory.mktemp("browser-headers"), embedded_redis.url, IOC_WEB_WORKERS="2", IOC_LANGUAGE="en"
    ) as served:
        yield served


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium page that records CSP violations and console errors."""
    with local_page(tmp_path / "profile", 1600, 900, TIMEOUT_MS) as opened:
        opened.add_init_script(WATCH_VIOLATIONS)
        opened.console_errors = []
        opened.on("console", lambda m: opened.console_errors.append(m.text) if m.type == "error" else None)
        yield opened


def violations(page: Any) -> list[str]:
    """The CSP violations seen so far, from the page and from the console."""
    seen = list(page.evaluate("window.__cspViolations || []"))
    return seen + [text for text in page.console_errors if "Content Security Policy" in text]


def test_every_response_carries_the_headers(site: Site) -> None:
    http = UrlHttp(site.url)
    for path in ("/login", "/", "/_dash-layout", "/auth/status"):
        reply = http.request("GET", path)
        policy = reply.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self' 'sha256-" in policy, path
        assert "unsafe-eval" not in policy and "script-src 'self' 'unsafe-inline'" not in policy
        assert reply.headers["x-frame-options"] == "DENY" and reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert reply.headers["cache-control"] == "no-store", path
    script = http.request("GET", "/assets/wall_map.js")
    assert script.status == 200 and script.headers.get("cache-control") != "no-store"


def test_pages_work_under_the_policy_without_violations(site: Site, page: Any) -> None:
    page.goto(site.url + "/login")
    page.locator("#login-submit").wait_for()
    _, secret = new_display_token(site.database)
    page.goto(f"{site.url}/display?token={secret}")  # a wall screen
    page.locator(".wall-title").wait_for()
    page.wait_for_timeout(2500)  # a few ticks of the wall
    # The wall's push stream is let through (connect-src 'self' covers /push/wall) and opened.
    assert page.evaluate("document.documentElement.dataset.wallPush") == "open"
    assert violations(page) == []
    for role, path, ready in (
        (Role.MANAGER, "/incidents", incidents_ids.ROOT),
        (Role.MANAGER, "/managers", managers_ids.ROOT),
        (Role.ADMIN, "/admin", admin_ids.ROOT),
    ):
        sign_in(page, site, role)
        page.goto(site.url + path)
        page.locator(f"#{ready}").wait_for()
        page.wait_for_timeout(1500)
        assert violations(page) == [], path


def sign_in(page: Any, site: Site, role: Role) -> None:
    """Sign the page in through the login form as a new account of that role."""
    page.context.clear_cookies()
    page.goto(site.url + "/login?lang=en")
    page.fill("#login-username", new_account(site.database, role).username)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.locator(".wall-title").wait_for()


def test_another_page_cannot_frame_the_app(site: Site, page: Any, tmp_path: Path) -> None:
    # A page of another origin (a file here) frames the incidents page: the browser refuses to render it.
    framing = tmp_path / "frame.html"
    framing.write_text(f'<iframe id="f" src="{site.url}/login" width="800" height="600"></iframe>')
    page.context.unroute("**/*")
    page.goto(framing.as_uri())
    page.wait_for_timeout(1500)
    frame = next((f for f in page.frames if f != page.main_frame), None)
    rendered = frame is not None and frame.url.startswith(site.url) and frame.locator("#login-submit").count() > 0
    assert not rendered
