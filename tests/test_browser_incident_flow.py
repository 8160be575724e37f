"""An incident from the sensor to the managers' export, in a real browser (Chromium through Playwright) against the
real processes: `ioc aggregator`, `ioc incidents-engine` and `ioc web` on an embedded Redis and an SQLite file.

1. A water-level reading at BĐ II arrives on the raw stream; the aggregator raises the alarm, the engine opens an
   incident, and it appears in the operator's incidents panel without a reload.
2. The operator acknowledges it with a comment and dispatches the police.
3. A manager resolves it with a note and closes it, then finds it in the managers' figures and in an Excel export,
   which is opened and read back."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import expect

from ioc.city import load_city
from ioc.db import Database, open_database
from ioc.embedded import EmbeddedRedis
from ioc.identity.roles import Role
from ioc.incidents.lifecycle import get_incident
from ioc.incidents.queries import list_incidents
from ioc.incidents.texts import label
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from tests.sessions import new_account, sign_in_browser
from tests.test_browser_wall import CHROMIUM, local_page
from tests.webserver import WebServer, server_env

TIMEOUT_MS = 20_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@dataclass
class System:
    """The running system: its web address, database, Redis namespace and process logs."""

    url: str
    database: Database
    redis_url: str
    keys: Keys
    logs: list[Path]

    def log_text(self) -> str:
        """The processes' logs (their last lines), for a failure's message."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs if p.exists())


@pytest.fixture
def system(embedded_redis: EmbeddedRedis, tmp_path: Path) -> Iterator[System]:
    """`ioc web`, `ioc aggregator` and `ioc incidents-engine` on a namespace and an SQLite file of their own."""
    data = tmp_path / "data"
    keys = Keys(f"flow{uuid.uuid4().hex[:8]}")
    env = server_env(
        data,
        IOC_REDIS_URL=embedded_redis.url,
        IOC_NAMESPACE=keys.namespace,
        IOC_WEB_WORKERS="1",
        IOC_LANGUAGE="en",
        IOC_INCIDENT_CONSUMER="flow-engine",
    )
    server = WebServer(env, tmp_path / "web.log")
    server.start()  # migrates the database first
    workers: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / "web.log"]
    try:
        for command in ("aggregator", "incidents-engine"):
            log = tmp_path / f"{command}.log"
            logs.append(log)
            with log.open("wb") as out:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "cli", command],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
        database = open_database(Settings(data_dir=data))
        try:
            yield System(server.url, database, embedded_redis.url, keys, logs)
        finally:
            database.close()
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        server.stop()
        client = connect_url(embedded_redis.url)
        doomed = list(client.scan_iter(match=keys.all_keys_pattern(), count=1000))
        if doomed:
            client.delete(*doomed)
        client.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile with one page; nothing leaves the machine."""
    with local_page(tmp_path / "profile", 1600, 1000, TIMEOUT_MS) as page:
        yield page


def act(page: Any, incident_id: int, action: str, text: str | None = None) -> None:
    """Select the incident's row, type the text if any, press the action's button, wait for "done"."""
    page.locator(f'.ag-center-cols-container .ag-row[row-id="{incident_id}"]').click()
    page.locator("#incidents-detail .inc-detail-title", has_text=f"#{incident_id}").wait_for()
    if text is not None:
        page.fill("#incidents-action-text", text)
    page.locator(f"#incidents-do-{action}").click()
    page.locator("#incidents-message .is-ok", has_text=f"Incident #{incident_id}: {action}").wait_for()


def test_bd_ii_reading_to_closed_incident_in_the_managers_excel(system: System, browser: Any, tmp_path: Path) -> None:
    page = browser
    operator = new_account(system.database, Role.OPERATOR)
    manager = new_account(system.database, Role.MANAGER)
    sign_in_browser(page.context, system.url, operator.username)
    page.goto(f"{system.url}/incidents?lang=en")
    page.locator(".inc-grid .ag-root").wait_for()

    # 1. A BĐ II reading arrives; the incident appears without a reload.
    station = next(s for s in load_city().sensors_of("water_station") if s.alarm_levels_m is not None)
    assert station.alarm_levels_m is not None
    level = round(station.alarm_levels_m[1] + 0.05, 2)  # above BĐ II, below BĐ III
    client = connect_url(system.redis_url)
    client.xadd(
        system.keys.events("flood"),
        {
            "v": "1",
            "type": "flood.water_level.observed",
            "ts": datetime.now(UTC).isoformat(),
            "sensor": station.id,
            "level_m": str(level),
        },
    )
    client.close()
    deadline = time.monotonic() + 30
    while not (found := list_incidents(system.database)):
        assert time.monotonic() < deadline, "no incident opened:\n" + system.log_text()
        time.sleep(0.2)
    [incident] = found
    assert (incident.type, incident.place, incident.severity) == ("flood", station.id, "warning")
    assert incident.status == "new"
    row = page.locator(f'.ag-center-cols-container .ag-row[row-id="{incident.id}"]')
    row.wait_for(timeout=15_000)  # brought in by the panel's poll
    assert "Flood" in (row.text_content() or "")

    # 2. The operator acknowledges it with a comment and dispatches the police.
    act(page, incident.id, "acknowledge", "water over the road at the station, police informed")
    page.locator("#incidents-action-unit").click()
    page.get_by_text("Police 113", exact=True).last.click()
    act(page, incident.id, "dispatch")
    assert get_incident(system.database, incident.id).unit == "police-113"
    assert page.locator("#incidents-do-close").is_hidden()  # closing is a manager's

    # 3. A manager resolves and closes it ...
    sign_in_browser(page.context, system.url, manager.username)
    page.goto(f"{system.url}/incidents?lang=en")
    page.locator(f'.ag-center-cols-container .ag-row[row-id="{incident.id}"]').wait_for()
    act(page, incident.id, "resolve", "water receded, road reopened")
    act(page, incident.id, "close")
    closed = get_incident(system.database, incident.id)
    assert closed.status == "closed" and closed.acknowledged_at is not None and closed.resolved_at is not None
    steps = page.locator("#incidents-detail .inc-step")
    assert steps.count() >= 5  # opened, acknowledged, dispatched, resolved, closed

    # ... finds it in the managers' figures ...
    page.goto(f"{system.url}/managers?lang=en")
    total = page.locator(".mgr-kpi--total .mgr-kpi-value")
    total.wait_for()
    expect(total).to_have_text("1", timeout=30_000)
    acknowledge = page.locator(".mgr-kpi--ack .mgr-kpi-value").text_content() or ""
    assert "median" in acknowledge and "—" not in acknowledge
    assert "0 not resolved yet" in (page.locator(".mgr-kpi--total .mgr-kpi-detail").text_content() or "")

    # ... and in an Excel export, opened and read back.
    with page.expect_download() as download_info:
        page.locator("#managers-export-xlsx").click()
    saved = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(saved)
    assert saved.suffix == ".xlsx"
    book = openpyxl.load_workbook(saved, read_only=True)
    incidents_sheet = [list(r) for r in book["incidents"].iter_rows(values_only=True)]
    header, rows = incidents_sheet[0], incidents_sheet[1:]
    assert len(rows) == 1
    exported = dict(zip(header, rows[0], strict=True))
    # In the page's language (English here): words, not codes.
    assert exported["id"] == incident.id and exported["status"] == label("status", "closed", "en") == "Closed"
    assert exported["unit"] == label("unit", "police-113", "en") != "police-113"
    assert exported["place"] == station.id
    audit_sheet = [list(r) for r in book["audit"].iter_rows(values_only=True)]
    actions = [dict(zip(audit_sheet[0], r, strict=False))["action"] for r in audit_sheet[1:]]  # empty cells trimmed
    for action in ("open", "acknowledge", "dispatch", "resolve", "close"):
        assert label("action", action, "en") in actions, actions
