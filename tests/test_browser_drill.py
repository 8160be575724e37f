"""A drill from the trainer's start to the after-action report, in a real browser (Chromium through Playwright) against
the real processes: `ioc web`, `ioc aggregator` and `ioc incidents-engine` on an embedded Redis and an SQLite file,
with the exercise runner playing in the test's process.

1. A trainer creates the rush-hour-crash exercise for a trainee at ×60, starts it, jumps ahead to just before the
   crash and, clicking the map, makes a device go dark there too (listed with the messages).
2. The crash slows Phan Châu Trinh: the incident engine opens the congestion incident in the exercise; the trainer
   pauses the exercise, so its clock stands still.
3. The trainee, under the "DIỄN TẬP / EXERCISE" banner, acknowledges that incident on the incidents page.
4. The trainer resumes until the MSEL's "queue" message is sent, stops the exercise, and follows the link to its
   report: the acknowledgement is listed as the expected response met in time, at the exercise-clock time the
   incident records."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from ioc.city import load_city
from ioc.db import Database, open_database
from ioc.embedded import EmbeddedRedis
from ioc.exercises.injects import kept_results, sent_injects
from ioc.exercises.records import get_exercise, list_exercises
from ioc.identity.roles import Role
from ioc.incidents.lifecycle import get_incident
from ioc.incidents.queries import Filters, list_incidents
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from simulators.exercises import ExerciseRunner
from tests.sessions import new_account, sign_in_browser
from tests.test_browser_incident_flow import act
from tests.test_browser_wall import CHROMIUM, local_page
from tests.webserver import WebServer, server_env

TIMEOUT_MS = 20_000
CRASHED = "seg-pct-03"  # rush-hour-crash's crash, and the place its MSEL expects the congestion acknowledged at

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,  # about a minute and a half: three processes, Chromium and a drill played at ×60
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@dataclass
class System:
    """The running system: its web address, database and process logs."""

    url: str
    database: Database
    logs: list[Path]

    def log_text(self) -> str:
        """The processes' logs (their last lines), for a failure's message."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs if p.exists())


@pytest.fixture
def system(embedded_redis: EmbeddedRedis, tmp_path: Path) -> Iterator[System]:
    """`ioc web`, `ioc aggregator` and `ioc incidents-engine` on a namespace and an SQLite file of their own, and an
    exercise runner on them in a thread."""
    data = tmp_path / "data"
    keys = Keys(f"drl{uuid.uuid4().hex[:8]}")
    env = server_env(
        data,
        IOC_REDIS_URL=embedded_redis.url,
        IOC_NAMESPACE=keys.namespace,
        IOC_WEB_WORKERS="1",
        IOC_LANGUAGE="en",
        IOC_INCIDENT_CONSUMER="drill-engine",
    )
    server = WebServer(env, tmp_path / "web.log")
    server.start()  # migrates the database first
    workers: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / "web.log"]
    client = connect_url(embedded_redis.url)
    stop = threading.Event()
    runner_thread: threading.Thread | None = None
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
        runner = ExerciseRunner(client, database, load_city(), base=keys.namespace, save_every_s=0.5)
        runner_thread = threading.Thread(target=runner.run_forever, args=(stop, 0.2))
        runner_thread.start()
        try:
            yield System(server.url, database, logs)
        finally:
            stop.set()
            runner_thread.join(30)
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
        doomed = list(client.scan_iter(match=f"ioc:{{{keys.namespace}*", count=1000))
        if doomed:
            client.delete(*doomed)
        client.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile with one page; nothing leaves the machine."""
    with local_page(tmp_path / "profile", 1600, 1400, TIMEOUT_MS) as page:
        yield page


def press(page: Any, button: str, answer: str) -> None:
    """Press a button of the trainer's page and wait for its answer."""
    page.locator(f"#{button}").click()
    page.locator("#exercises-message .is-ok", has_text=answer).wait_for()


def test_a_trainee_acknowledges_the_drills_incident_and_the_report_lists_it_with_its_time(
    system: System, browser: Any
) -> None:
    page = browser
    trainer = new_account(system.database, Role.TRAINER)
    trainee = new_account(system.database, Role.OPERATOR)
    sign_in_browser(page.context, system.url, trainer.username)

    # 1. Create, start, jump to 07:05 (the crash comes at 07:10), and make a device go dark on the map.
    page.goto(f"{system.url}/exercises?lang=en")
    choice = page.locator("#exercises-scenario label", has_text="(rush-hour-crash)")
    for _ in range(20):  # the runner lists the scenarios a moment after it starts
        if choice.count():
            break
        page.wait_for_timeout(500)
        page.goto(f"{system.url}/exercises?lang=en")
    choice.click()
    page.fill("#exercises-name", "Rush hour drill")
    page.fill("#exercises-speed", "60")
    page.locator("#exercises-trainees label", has_text=trainee.username).click()
    press(page, "exercises-create", "created")
    [exercise] = list_exercises(system.database)
    press(page, "exercises-start", "Running")
    deadline = time.monotonic() + 30
    while get_exercise(system.database, exercise.id).sim_start is None:
        assert time.monotonic() < deadline, "the runner never played the exercise:\n" + system.log_text()
        page.wait_for_timeout(200)
    page.fill("#exercises-jump-minutes", "65")
    press(page, "exercises-jump", "65")
    page.locator("#exercises-map-kind label", has_text="Device gone dark").click()
    page.locator("#exercises-map").click()  # its middle: inside the city
    expect(page.locator("#exercises-map-place")).to_contain_text("Point chosen")
    press(page, "exercises-map-inject", "Injected: Device gone dark")
    expect(page.locator("#exercises-messages")).to_contain_text("Device gone dark")
    [dark] = sent_injects(system.database, exercise.id)
    assert dark.on_map and dark.sender == trainer.username

    # 2. The crash's queue makes the engine open the congestion incident there; the trainer pauses the clock.
    def crashed() -> Any:
        found = list_incidents(system.database, Filters(exercise=exercise.id, types=("congestion",)))
        return next((i for i in found if i.place == CRASHED), None)

    deadline = time.monotonic() + 90
    while (incident := crashed()) is None:  # rush hour jams other roads too: the crash's own segment is the drill's
        assert time.monotonic() < deadline, f"no congestion incident on {CRASHED}:\n" + system.log_text()
        page.wait_for_timeout(300)
    press(page, "exercises-pause", "Paused")
    assert list_incidents(system.database) == []  # live has none

    # 3. The trainee, under the banner, acknowledges it.
    sign_in_browser(page.context, system.url, trainee.username)
    page.goto(f"{system.url}/incidents?lang=en")
    banner = page.locator("#shell-exercise")
    expect(banner).to_contain_text("DIỄN TẬP / EXERCISE")
    expect(banner).to_contain_text("Rush hour drill")
    expect(banner).not_to_contain_text("Device gone dark")  # the trainees have to notice that one
    page.locator(f'.ag-center-cols-container .ag-row[row-id="{incident.id}"]').wait_for()
    act(page, incident.id, "acknowledge", "traffic police informed, watching the cameras")
    acknowledged = get_incident(system.database, incident.id, exercise=exercise.id).acknowledged_at
    assert acknowledged is not None

    # 4. The trainer lets the "queue" message come, stops the drill and reads the report.
    sign_in_browser(page.context, system.url, trainer.username)
    page.goto(f"{system.url}/exercises?lang=en")
    page.locator("#exercises-selected").click()
    page.get_by_text(f"#{exercise.id} Rush hour drill", exact=False).last.click()
    press(page, "exercises-resume", "Running")
    expect(page.locator("#exercises-messages")).to_contain_text("The jam spreads", timeout=60_000)
    press(page, "exercises-stop", "Stopped")
    deadline = time.monotonic() + 30
    while not kept_results(system.database, [exercise.id]):  # the runner scores it as it lets go
        assert time.monotonic() < deadline, "the stopped exercise's results were not kept:\n" + system.log_text()
        page.wait_for_timeout(200)
    report_link = page.locator("#exercises-aar-link")
    expect(report_link).to_have_attribute("href", f"/exercises/report?id={exercise.id}&lang=en")
    report_link.click()
    page.wait_for_url(f"**/exercises/report?id={exercise.id}&lang=en")
    at = acknowledged.replace(tzinfo=acknowledged.tzinfo or UTC).astimezone(ZoneInfo(load_city().timezone))
    response = page.locator(".exercises-response", has_text=CRASHED).filter(has_text="Acknowledge").first
    expect(response).to_contain_text(at.strftime("%Y-%m-%d %H:%M:%S"), timeout=30_000)  # its time, on the drill's clock
    expect(response).to_contain_text("In time")
    assert "is-on_time" in (response.get_attribute("class") or "")
    expect(page.locator("#exercises-report-body")).to_contain_text(trainee.username)
    # the language link keeps the exercise
    expect(page.locator(".aar-lang-link", has_text="VI")).to_have_attribute(
        "href", f"/exercises/report?lang=vi&id={exercise.id}"
    )
