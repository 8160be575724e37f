"""The trainer's page and a trainee's banner in a real browser (Chromium through Playwright) against `ioc web` on an
embedded Redis and an SQLite file, with the exercise runner playing in the test's process: a trainer creates an
exercise for a trainee, starts it, pauses it and sends a message; the trainee's pages carry the "DIỄN TẬP /
EXERCISE" banner with that message; the trainer resets the exercise and the banner is gone."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ioc.city import load_city
from ioc.db import Database, open_database
from ioc.embedded import EmbeddedRedis
from ioc.exercises.records import list_exercises
from ioc.identity.roles import Role
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from simulators.exercises import ExerciseRunner
from tests.sessions import new_account, sign_in_browser
from tests.test_browser_wall import CHROMIUM, local_page
from tests.webserver import WebServer, server_env

TIMEOUT_MS = 20_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,  # about a minute: a web server, Chromium and the runner reading every scenario
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@dataclass
class System:
    """`ioc web` and an exercise runner: the web's address, its database and namespace."""

    url: str
    database: Database
    keys: Keys


@pytest.fixture
def system(embedded_redis: EmbeddedRedis, tmp_path: Path) -> Iterator[System]:
    """`ioc web` on a namespace and an SQLite file of its own, and an exercise runner on them in a thread."""
    data = tmp_path / "data"
    keys = Keys(f"trn{uuid.uuid4().hex[:8]}")
    env = server_env(data, IOC_REDIS_URL=embedded_redis.url, IOC_NAMESPACE=keys.namespace, IOC_WEB_WORKERS="1")
    server = WebServer(env, tmp_path / "web.log")
    server.start()  # migrates the database first
    client = connect_url(embedded_redis.url)
    database = open_database(Settings(data_dir=data))
    runner = ExerciseRunner(client, database, load_city(), base=keys.namespace, save_every_s=0.5)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop, 0.2))
    thread.start()
    try:
        yield System(server.url, database, keys)
    finally:
        stop.set()
        thread.join(30)
        database.close()
        server.stop()
        doomed = list(client.scan_iter(match=f"ioc:{{{keys.namespace}*", count=1000))
        if doomed:
            client.delete(*doomed)
        client.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile with one page; nothing leaves the machine."""
    with local_page(tmp_path / "profile", 1600, 1200, TIMEOUT_MS) as page:
        yield page


def press(page: Any, button: str, answer: str) -> None:
    """Press a button of the trainer's page and wait for its answer."""
    page.locator(f"#{button}").click()
    page.locator("#exercises-message .is-ok", has_text=answer).wait_for()


def test_a_trainer_runs_an_exercise_and_the_trainee_sees_the_banner(system: System, browser: Any) -> None:
    page = browser
    trainer = new_account(system.database, Role.TRAINER)
    trainee = new_account(system.database, Role.OPERATOR)
    sign_in_browser(page.context, system.url, trainer.username)

    # The page lists the scenarios the runner found (it may come up after the page: reload until it has).
    page.goto(f"{system.url}/exercises?lang=en")
    choice = page.locator("#exercises-scenario label", has_text="(rush-hour-crash)")
    for _ in range(20):
        if choice.count():
            break
        page.wait_for_timeout(500)
        page.goto(f"{system.url}/exercises?lang=en")
    choice.click()
    page.fill("#exercises-name", "Morning drill")
    page.fill("#exercises-speed", "30")
    page.locator("#exercises-trainees label", has_text=trainee.username).click()
    press(page, "exercises-create", "created")
    [exercise] = list_exercises(system.database)
    assert (exercise.name, exercise.scenario, exercise.speed, exercise.trainees, exercise.status) == (
        "Morning drill",
        "rush-hour-crash",
        30.0,
        (trainee.id,),
        "created",
    )
    status = page.locator("#exercises-status")
    expect(status).to_contain_text("Created")

    press(page, "exercises-start", "Running")
    expect(status).to_contain_text("Running")
    # the runner scores its expected responses live (none sent yet at its start)
    expect(page.locator("#exercises-responses .exercises-response").first).to_be_visible()
    page.fill("#exercises-new-speed", "45")
    press(page, "exercises-set-speed", "×45")
    expect(status).to_contain_text("×45")
    press(page, "exercises-pause", "Paused")
    expect(status).to_contain_text("Paused")
    page.fill("#exercises-inject-from", "Ban Chỉ huy PCTT")
    page.fill("#exercises-inject-to", "IOC Tam Kỳ")
    page.fill("#exercises-inject-text", "Báo cáo tình hình giao thông Phan Châu Trinh")
    press(page, "exercises-inject", "Message sent")
    expect(page.locator("#exercises-messages")).to_contain_text("Báo cáo tình hình giao thông Phan Châu Trinh")
    expect(page.locator("#shell-exercise")).to_be_hidden()  # the trainer is no trainee

    # The trainee sees the banner, with the message, on every page.
    sign_in_browser(page.context, system.url, trainee.username)
    for path in ("/incidents?lang=en", "/?lang=en"):
        page.goto(f"{system.url}{path}")
        banner = page.locator("#shell-exercise")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("DIỄN TẬP / EXERCISE")
        expect(banner).to_contain_text("Morning drill")
        expect(banner).to_contain_text("Báo cáo tình hình giao thông Phan Châu Trinh")

    # The trainer resets it: back to created, and the trainee's banner is gone.
    sign_in_browser(page.context, system.url, trainer.username)
    page.goto(f"{system.url}/exercises?lang=en")
    page.locator("#exercises-selected").click()
    page.get_by_text(f"#{exercise.id} Morning drill", exact=False).last.click()
    expect(status).to_contain_text("Paused")
    press(page, "exercises-reset", "Created")
    expect(page.locator("#exercises-messages")).to_contain_text("No messages sent yet")
    sign_in_browser(page.context, system.url, trainee.username)
    page.goto(f"{system.url}/incidents?lang=en")
    page.locator("#incidents-root, .inc-grid").first.wait_for()
    page.wait_for_timeout(1500)
    expect(page.locator("#shell-exercise")).to_be_hidden()
