"""The incidents page in a real browser (Chromium through Playwright) against `ioc web`: an operator signs in, opens
/incidents, sees an incident made in the database (brought in by the poll, no reload), selects it, acknowledges it
with a comment, and the timeline shows it while the row stays selected."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ioc.city import load_city
from ioc.db import Database, open_database
from ioc.embedded import EmbeddedRedis
from ioc.identity.roles import Role
from ioc.incidents import lifecycle
from ioc.incidents.model import Limits
from ioc.settings import Settings
from tests.sessions import new_account, sign_in_browser
from tests.test_browser_wall import CHROMIUM, local_page
from tests.webserver import WebServer, server_env

TIMEOUT_MS = 20_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def site(embedded_redis: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:
    """`ioc web` (one worker) on an SQLite database of its own, and that database."""
    root = tmp_path_factory.mktemp("browser-incidents")
    env = server_env(
        root / "data",
        IOC_REDIS_URL=embedded_redis.url,
        IOC_NAMESPACE=f"bi{uuid.uuid4().hex[:8]}",
        IOC_WEB_WORKERS="1",
        IOC_LANGUAGE="en",
    )
    server = WebServer(env, root / "web.log")
    server.start()
    try:
        database = open_database(Settings(data_dir=root / "data"))
        try:
            yield server.url, database
        finally:
            database.close()
    finally:
        server.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile with one page; nothing leaves the machine."""
    with local_page(tmp_path / "profile", 1600, 1000, TIMEOUT_MS) as page:
        yield page


def test_an_operator_acknowledges_an_incident_and_the_timeline_shows_it(
    site: tuple[str, Database], browser: Any
) -> None:
    url, database = site
    page = browser
    operator = new_account(database, Role.OPERATOR)
    sign_in_browser(page.context, url, operator.username)
    page.goto(f"{url}/incidents?lang=en")
    page.locator(".inc-title", has_text="Incident handling").wait_for()
    page.locator(".inc-grid .ag-root").wait_for()

    city = load_city()
    camera = city.sensors_of("traffic_camera")[0]
    made = lifecycle.open_by_hand(
        database,
        city=city,
        limits=Limits.of(Settings()),
        actor="dispatcher",
        role=Role.OPERATOR,
        incident_type="traffic_accident",
        lat=camera.lat,
        lon=camera.lon,
        description="two cars at the junction",
        severity="critical",
    )
    row = page.locator(f'.ag-center-cols-container .ag-row[row-id="{made.id}"]')
    row.wait_for(timeout=10_000)  # the poll (3 s) brings it in without a reload
    assert "Traffic accident" in (row.text_content() or "") and "Critical" in (row.text_content() or "")
    row.click()
    detail = page.locator("#incidents-detail")
    detail.locator(".inc-detail-title", has_text=f"#{made.id}").wait_for()
    assert "two cars at the junction" in (detail.text_content() or "")
    # The place is seen on the small map: its marker is the topmost thing where it is drawn (not under the basemap).
    marker = page.locator(".inc-map--detail path.inc-map-incident")
    marker.wait_for()
    page.wait_for_timeout(500)  # the basemap's GeoJSON is drawn when its data arrives, possibly after the marker
    on_top = page.evaluate("""() => { const m = document.querySelector('.inc-map--detail path.inc-map-incident');
        const box = m.getBoundingClientRect();
        const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
        return hit === m; }""")
    assert on_top, "the incident's marker is hidden under the basemap"
    # Whatever order the layers arrive in: the filled basemap sits in a pane below the markers' pane.
    panes = page.evaluate("""() => { const map = document.querySelector('.inc-map--detail');
        const z = p => Number(getComputedStyle(p).zIndex);
        const marker = map.querySelector('path.inc-map-incident').closest('.leaflet-pane');
        const filled = [...map.querySelectorAll('path')].filter(p => p.getAttribute('fill-opacity') === '1');
        return {marker: z(marker), basemap: filled.map(p => z(p.closest('.leaflet-pane')))}; }""")
    assert panes["basemap"] and all(z < panes["marker"] for z in panes["basemap"]), panes
    button = page.locator("#incidents-do-acknowledge")
    assert button.is_visible() and page.locator("#incidents-do-close").is_hidden()

    page.fill("#incidents-action-text", "police called, on the way")
    button.click()
    page.locator("#incidents-message .is-ok", has_text=f"Incident #{made.id}: acknowledge done").wait_for()
    step = detail.locator(".inc-step--acknowledge")
    step.wait_for()
    assert operator.username in (step.text_content() or "")
    assert "police called, on the way" in (step.text_content() or "")
    assert lifecycle.get_incident(database, made.id).status == "acknowledged"
    # The next poll reloads the table (the incident changed); the row is still the selected one, now acknowledged.
    page.locator(f'.ag-row[row-id="{made.id}"] .inc-status--acknowledged').wait_for(timeout=10_000)
    assert "ag-row-selected" in (row.get_attribute("class") or "")
    assert page.locator("#incidents-do-dispatch").is_visible()
