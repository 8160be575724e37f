"""Screens on one `ioc run` (aggregator, incident engine, exercise runner, simulator at x60 and the web, all on this
machine, on a Redis of the benchmark's own): how long a reading takes from its XADD to a signed-in wall in headless
Chromium, and what many light screens (a push stream each, and the tick every ring triggers, as the browser does)
cost the server.

`python -m benchmarks --screens-only --screen-events 60 --light-screens 1000` (see benchmarks/__main__.py).
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from benchmarks.push import _cpu_s, _free_port, _rss_mb, _tree
from ioc.city import City
from ioc.clock import read_timebase
from ioc.cluster import Client
from ioc.db import open_database
from ioc.events import FloodWaterLevelObserved, encode_event
from ioc.identity.tokens import create_display_token
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from simulators import SimEvent, write_events

IOC: Final = Path(sys.executable).parent / "ioc"
CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
STATION: Final = "wl-tam-ky"  # normal level 0.6 m, first alarm 1.7 m: the benchmark's readings (1.20-1.59) raise none
SPEED: Final = 60.0
SEEN_TIMEOUT_S: Final = 5.0  # a reading not shown by then was overwritten by the simulator's next one (counted)

# Records each text the station's gauge shows, with the time it appeared (ms since the epoch, the machine's clock).
WATCH_GAUGE: Final = """(station) => {
  window.__gauge = [];
  let last = null;
  const look = () => {
    const el = [...document.querySelectorAll('.wall-gauge-value')].find(e => (e.id || '').includes(station));
    const text = el ? el.textContent : null;
    if (text !== last) { last = text; window.__gauge.push([text, Date.now()]); }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
  look();
}"""


@dataclass(frozen=True)
class RunningIoc:
    """An `ioc run` of the benchmark's own: its web's base URL, its process id, its data folder and namespace."""

    url: str
    pid: int
    data_dir: Path
    keys: Keys

    def display_secret(self, name: str) -> str:
        """A new display token's secret (a wall screen signs in with its link)."""
        database = open_database(Settings(data_dir=self.data_dir))
        try:
            return create_display_token(database, name, actor="benchmark")[1]
        finally:
            database.close()


@contextmanager
def ioc_run(folder: Path, redis_url: str, keys: Keys, **env_values: str) -> Iterator[RunningIoc]:
    """`ioc run --speed 60` on `redis_url` and namespace `keys`, English, no tiles; stopped (and waited for) after."""
    port = _free_port()
    data = folder / f"run-{keys.namespace}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update(
        IOC_DATA_DIR=str(data),
        IOC_REDIS_URL=redis_url,
        IOC_NAMESPACE=keys.namespace,
        IOC_WEB_PORT=str(port),
        IOC_LANGUAGE="en",
        IOC_TILE_URL="",
        **env_values,
    )
    log = (folder / f"run-{keys.namespace}.log").open("ab")
    run = subprocess.Popen(
        [str(IOC), "run", "--speed", repr(SPEED), "--seed", "1"],
        env=env,
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/login", timeout=5).read()
                break
            except OSError:
                if run.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ioc run did not serve {url} (see {log.name})") from None
                time.sleep(0.3)
        yield RunningIoc(url, run.pid, data, keys)
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
        log.close()


def write_level(redis_url: str, keys: Keys, city: City, level_m: float) -> None:
    """A water level reading at STATION, stamped with the namespace's (simulated) clock's now."""
    client = connect_url(redis_url)
    try:
        at = datetime.fromtimestamp(read_timebase(client, keys).now(), ZoneInfo(city.timezone))
        fields = encode_event(
            FloodWaterLevelObserved(v=1, type="flood.water_level.observed", ts=at, sensor=STATION, level_m=level_m)
        )
        write_events(client, keys, [SimEvent(at.timestamp(), "flood", fields)], 5_000_000)
    finally:
        client.close()


def _stored_level(client: Client, keys: Keys) -> float | None:
    """The level of STATION in the aggregator's state (None before any)."""
    raw = client.hget(keys.stations(), STATION)
    if raw is None:
        return None
    level = json.loads(raw).get("level_m")
    return float(level) if level is not None else None


def _percentile(values: list[float], share: float) -> float | None:
    """The value below which `share` of the sorted values lie (None without values)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 1)


def _wait_in_page(page: Any, expression: str, timeout_s: float) -> None:
    """Until a JavaScript expression is true in the page (page.evaluate: Playwright's wait_for_function uses eval(),
    which the pages' policy refuses)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise RuntimeError(f"still false after {timeout_s} s: {expression}")
        page.wait_for_timeout(100)


def measure_event_to_screen(run: RunningIoc, redis_url: str, city: City, *, samples: int) -> dict[str, Any]:
    """XADD of a reading to its value in the DOM of a wall in headless Chromium (display token, push on), `samples`
    times, a random 0.4-1.2 s apart so the readings fall anywhere in the push reader's and the simulator's cycles."""
    from playwright.sync_api import sync_playwright

    secret = run.display_secret("bench-event-screen")
    latencies: list[float] = []
    stored: list[float] = []  # XADD to the aggregator's state holding the reading (the rest is push, tick, browser)
    lost = 0
    client = connect_url(redis_url)
    rng = random.Random(13)
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 900},
        )
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(run.url) else r.abort())
            page.goto(f"{run.url}/display?token={secret}")
            _wait_in_page(page, "document.documentElement.dataset.wallPush === 'open'", 60.0)
            _wait_in_page(
                page,
                f"[...document.querySelectorAll('.wall-gauge-value')].some(e => (e.id || '').includes('{STATION}'))",
                60.0,
            )
            page.evaluate(WATCH_GAUGE, STATION)
            for index in range(samples):
                shown = page.evaluate("window.__gauge[window.__gauge.length - 1][0]") or ""
                level = 1.20 + (index % 40) / 100
                if f"{level:.2f}" in shown:
                    level += 0.005  # shown as the next hundredth: a change the screen must show
                text = f"{level:.2f}"
                written_ms = time.time() * 1000
                write_level(redis_url, run.keys, city, level)
                stored_ms = seen_ms = None
                until = time.monotonic() + SEEN_TIMEOUT_S
                while seen_ms is None and time.monotonic() < until:
                    if stored_ms is None and _stored_level(client, run.keys) == round(level, 3):
                        stored_ms = time.time() * 1000
                    seen_ms = page.evaluate(
                        "([text, after]) => { const hit = window.__gauge.find(([t, at]) => at >= after && t && "
                        "t.includes(text)); return hit ? hit[1] : null; }",
                        [text, written_ms],
                    )
                    time.sleep(0.01)
                if seen_ms is None:
                    lost += 1
                else:
                    latencies.append(float(seen_ms) - written_ms)
                    if stored_ms is not None:
                        stored.append(min(stored_ms, float(seen_ms)) - written_ms)
                time.sleep(rng.uniform(0.4, 1.2))
        finally:
            context.close()
            client.close()
    return {
        "screen_event_samples": samples,
        "screen_event_seen": len(latencies),
        "screen_event_lost": lost,
        "screen_event_p50_ms": _percentile(latencies, 0.5),
        "screen_event_p95_ms": _percentile(latencies, 0.95),
        "screen_event_max_ms": round(max(latencies), 1) if latencies else None,
        "screen_event_mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        "screen_event_stored_p50_ms": _percentile(stored, 0.5),
        "screen_event_stored_p95_ms": _percentile(stored, 0.95),
    }


def describe_event_to_screen(figures: dict[str, Any]) -> list[str]:
    """The printed line of the event-to-screen figures."""
    return [
        f"event to screen (Chromium, push, simulator x{SPEED:g}): p50 {figures['screen_event_p50_ms']} ms, "
        f"p95 {figures['screen_event_p95_ms']} ms, max {figures['screen_event_max_ms']} ms over "
        f"{figures['screen_event_seen']} readings ({figures['screen_event_lost']} overwritten before shown; "
        f"target p95 < 500 ms, stretch 250 ms); of which XADD to the aggregator's state: p50 "
        f"{figures['screen_event_stored_p50_ms']} ms, p95 {figures['screen_event_stored_p95_ms']} ms"
    ]


def process_figures(pid: int) -> tuple[float, float]:
    """CPU seconds so far and resident MB of a process and its descendants."""
    pids = _tree(pid)
    return _cpu_s(pids), _rss_mb(pids)
