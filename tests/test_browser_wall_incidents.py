"""The wall's incidents panel in a real browser: `ioc web` serving the app with the live feed, a wall screen signed
in with its display token; incidents opened in the app's own database show up in the panel, in both languages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ioc.city import City
from ioc.db import open_database, utcnow
from ioc.identity.roles import Role
from ioc.incidents.lifecycle import open_by_hand
from ioc.incidents.model import Limits
from ioc.incidents.tables import IncidentRow
from ioc.settings import Settings
from tests import test_browser_wall as wall_browser
from tests.test_browser_wall import CHROMIUM, SEGMENT_PATHS, TIMEOUT_MS, Web, chromium

feed = wall_browser.feed  # the live city and the served app, as the wall's own browser tests use them
web = wall_browser.web

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


def test_incidents_panel_on_the_wall(web: Web, city: City, repo_root: Path, tmp_path: Path) -> None:
    artifacts = repo_root / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    database = open_database(Settings(data_dir=tmp_path / "data"))  # the served app's own SQLite file
    limits = Limits.of(Settings())
    try:
        fire = open_by_hand(
            database,
            city=city,
            limits=limits,
            actor="op",
            role=Role.OPERATOR,
            incident_type="fire",
            lat=city.center[0],
            lon=city.center[1],
            description="smoke",
            severity="critical",
        )
        tree = open_by_hand(
            database,
            city=city,
            limits=limits,
            actor="op",
            role=Role.OPERATOR,
            incident_type="fallen_tree",
            lat=15.575,
            lon=108.47,
            description="tree on the road",
        )
        with database.transaction() as session:  # missed its time to acknowledge, opened 40 minutes ago
            row = session.get(IncidentRow, tree.id)
            assert row is not None
            row.ack_overdue, row.opened_at = True, utcnow() - timedelta(minutes=40)
    finally:
        database.close()

    console_errors: list[str] = []
    with chromium(tmp_path / "profile", 1920, 1080) as context:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(web.url) else route.abort())
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{web.url}/display?token={web.display_token}")
        panel = page.locator("#wall-incidents-panel")
        panel.locator(".wall-inc--critical", has_text="Cháy").wait_for()
        assert "is-alert" in (panel.get_attribute("class") or "")
        assert fire.place_name in (panel.locator(".wall-inc--critical").first.text_content() or "")
        overdue = panel.locator(".wall-inc--overdue")
        assert "Cây đổ" in (overdue.text_content() or "") and "40 phút" in (overdue.text_content() or "")
        counts = panel.locator(".wall-inc-count-value").all_text_contents()
        assert counts == ["1", "1", "0", "1", "0"]  # critical, warning, info, overdue, back to normal
        # It fits: the panel is wholly on screen and the map keeps most of its column.
        box, map_box = panel.bounding_box(), page.locator(".wall-map-wrap").bounding_box()
        assert box is not None and map_box is not None
        assert box["y"] + box["height"] <= 1080 and map_box["height"] > 2.5 * box["height"], (box, map_box)
        page.locator(SEGMENT_PATHS).first.wait_for(state="attached")
        page.wait_for_timeout(1500)  # the map and chart settle, for the picture (not a synchronisation)
        page.screenshot(path=str(artifacts / "wall-incidents.png"))

        page.goto(web.url + "/?lang=en")
        page.locator("#wall-incidents-panel .wall-inc--critical", has_text="Fire").wait_for()
        assert page.locator("#wall-incidents-panel .wall-panel-title").text_content() == "Open incidents"
        page.screenshot(path=str(artifacts / "wall-incidents-en.png"))
    assert not console_errors, console_errors
