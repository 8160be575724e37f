"""Screens on one `ioc run` (aggregator, incident engine, exercise runner, simulator at x60 and the web, all on this
machine, on a Redis of the benchmark's own): how long a reading takes from its XADD to a signed-in wall in headless
Chromium, and what many light screens (a push stream each, and the tick every ring triggers, as the browser does)
cost the server.

`python -m benchmarks --screens-only --screen-events 60 --light-screens 1000` (see benchmarks/__main__.py).
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import random
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from benchmarks.browser import UPDATE_PATH, BrowserPage, UrlHttp
from benchmarks.push import _cpu_s, _free_port, _open_stream, _rss_mb, _tree
from ioc.city import City
from ioc.clock import read_timebase
from ioc.cluster import Client
from ioc.db import open_database
from ioc.events import FloodWaterLevelObserved, encode_event
from ioc.identity.tokens import create_display_token
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.snapshot import read_data_stamp
from ioc.store import connect_url
from layouts.wall import ids as wall_ids
from layouts.wall.page import PATH as WALL_PATH

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
def ioc_run(
    folder: Path, redis_url: str, keys: Keys, *, simulator: bool = True, **env_values: str
) -> Iterator[RunningIoc]:
    """`ioc run --speed 60` (without its simulator if told) on `redis_url` and namespace `keys`, English, no tiles;
    stopped (and waited for) after."""
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
        [str(IOC), "run", "--speed", repr(SPEED), "--seed", "1", *(() if simulator else ("--no-simulator",))],
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
    """A water level reading at STATION, stamped with the namespace's clock's now (the simulator's, or real time)."""
    client = connect_url(redis_url)
    try:
        at = datetime.fromtimestamp(read_timebase(client, keys).now(), ZoneInfo(city.timezone))
        fields = encode_event(
            FloodWaterLevelObserved(v=1, type="flood.water_level.observed", ts=at, sensor=STATION, level_m=level_m)
        )
        client.xadd(keys.events("flood"), fields, maxlen=5_000_000, approximate=True)
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


@dataclass
class LightScreen:
    """One light screen: its wall-client store (what its tick says it holds), its push stream, and its ticks."""

    index: int
    store: Any = None
    sock: socket.socket | None = None
    buffer: bytes = b""
    pending: bool = False  # a tick in flight (the browser's renderer runs one at a time)
    rung_again: bool = False  # rung while it was in flight: one more tick after
    ticks: list[tuple[float, float]] = field(default_factory=list)  # (asked, answered), monotonic


class TickClient:
    """Posts wall ticks for many screens over keep-alive connections, `threads` at a time, as each screen's browser
    would (the body the renderer sends, the screen's own store), and counts errors."""

    def __init__(self, page: BrowserPage, port: int, *, threads: int) -> None:
        self.port = port
        self.dependency = next(
            d
            for d in page.dependencies
            if d.get("clientside_function") is None and (wall_ids.PUSH, "data") in page.inputs_of(d)
        )
        self.template = page.body(self.dependency, [(wall_ids.PUSH, "data")])
        self.store_index = [s["id"] for s in self.template["state"]].index(wall_ids.CLIENT)
        cookies = list(page.http.cookies) if isinstance(page.http, UrlHttp) else []
        self.cookie = "; ".join(f"{c.name}={c.value}" for c in cookies)
        self.errors = 0
        self.error_kinds: dict[str, int] = {}
        self.work: queue.Queue[tuple[LightScreen, bool] | None] = queue.Queue()
        self.threads = [threading.Thread(target=self._serve, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def ring(self, screen: LightScreen, *, full: bool = False) -> None:
        """The screen's push stream rang (or its poll came due): a tick now, or one more after the one in flight."""
        if screen.pending:
            screen.rung_again = True
            return
        screen.pending = True
        self.work.put((screen, full))

    def close(self) -> None:
        """Stop the posting threads."""
        for _ in self.threads:
            self.work.put(None)
        for thread in self.threads:
            thread.join(timeout=30)

    def _post(self, connection: http.client.HTTPConnection, body: dict[str, Any]) -> tuple[int, bytes]:
        connection.request(
            "POST",
            UPDATE_PATH,
            body=json.dumps(body),
            headers={"Content-Type": "application/json", "Cookie": self.cookie},
        )
        reply = connection.getresponse()
        return reply.status, reply.read()

    def _error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def _serve(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while (item := self.work.get()) is not None:
            screen, full = item
            body = json.loads(json.dumps(self.template))
            body["state"][self.store_index]["value"] = None if full else screen.store
            asked = time.monotonic()
            try:
                try:
                    status, data = self._post(connection, body)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # the server closed the idle keep-alive connection: a browser asks again on a new one
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                    status, data = self._post(connection, body)
                if status == 200:
                    answer = json.loads(data).get("response", {})
                    if not full and wall_ids.CLIENT in answer:
                        screen.store = answer[wall_ids.CLIENT].get("data", screen.store)
                elif status != 204:
                    self._error(f"HTTP {status}")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self._error(type(exc).__name__)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            screen.ticks.append((asked, time.monotonic()))
            if screen.rung_again:
                screen.rung_again = False
                self.work.put((screen, full))
            else:
                screen.pending = False
        connection.close()


def _version_times(client: Client, keys: Keys, stop: threading.Event, seen: list[tuple[float, str]]) -> None:
    """Each new data version with when it was first read (every 5 ms), until `stop`."""
    last = None
    while not stop.is_set():
        stamp = read_data_stamp(client, keys)
        if stamp is not None and stamp.version != last:
            last = stamp.version
            seen.append((time.monotonic(), stamp.version))
        time.sleep(0.005)


def _deliveries(
    screens: list[LightScreen], written: list[float], versions: list[tuple[float, str]]
) -> tuple[list[float], int]:
    """Per screen and change: XADD to the end of the screen's first tick asked after the change's data version
    appeared (ms); and how many changes a screen never received (no tick after it)."""
    latencies: list[float] = []
    missed = 0
    for at in written:
        appeared = next((t for t, _ in versions if t >= at), None)
        for screen in screens:
            answered = (
                None if appeared is None else next((done for asked, done in screen.ticks if asked >= appeared), None)
            )
            if answered is None:
                missed += 1
            else:
                latencies.append((answered - at) * 1000)
    return latencies, missed


def measure_light_screens(
    run: RunningIoc,
    redis_url: str,
    city: City,
    *,
    screens: int,
    changes: int,
    change_every_s: float,
    threads: int,
    naive: bool = True,
) -> dict[str, Any]:
    """`screens` light screens on one `ioc run` (simulator off: the benchmark's own reading every `change_every_s`,
    `changes` times): with push (a stream each, a tick per ring, each screen's own store), then naive (no push, every
    screen polling every NAIVE_POLL_S with no store, so each poll is answered with the whole wall, as a plain Dash wall
    that rebuilds its figure per request). Delivery, errors, CPU and memory of the whole `ioc run`."""
    client = connect_url(redis_url)
    secret = run.display_secret(f"bench-light-{screens}")
    page = BrowserPage(run.url, WALL_PATH, "?lang=en", token=secret)
    port = int(run.url.rsplit(":", 1)[1])
    ticking = TickClient(page, port, threads=threads)
    crowd = [LightScreen(index) for index in range(screens)]
    figures: dict[str, Any] = {
        "light_screens": screens,
        "light_changes": changes,
        "light_change_every_s": change_every_s,
    }
    try:
        for screen in crowd:  # each screen's first paint: the whole wall, and its store
            ticking.ring(screen)
        _drain(crowd, 300)
        cpu_base, rss_base = process_figures(run.pid)
        time.sleep(5.0)
        figures["light_idle_server_cpu_cores"] = round((process_figures(run.pid)[0] - cpu_base) / 5.0, 2)
        refused = 0
        for screen in crowd:
            screen.sock = _open_stream(port, ticking.cookie, timeout_s=30.0)
            refused += screen.sock is None
        time.sleep(2.0)
        for screen in crowd:
            screen.ticks.clear()
        cpu_open, rss_open = process_figures(run.pid)
        figures["light_streams_refused"] = refused
        figures["light_server_mb_per_screen"] = round((rss_open - rss_base) / max(screens, 1), 3)
        push = _phase(run, client, city, crowd, ticking, changes, change_every_s, redis_url, naive=False)
        figures |= {f"light_push_{k}": v for k, v in push.items()}
        for screen in crowd:
            if screen.sock is not None:
                screen.sock.close()
                screen.sock = None
            screen.ticks.clear()
        if naive:
            time.sleep(4.0)  # the server notices the streams closed at its next re-check
            polled = _phase(run, client, city, crowd, ticking, changes, change_every_s, redis_url, naive=True)
            figures |= {f"light_naive_{k}": v for k, v in polled.items()}
        figures["light_tick_errors"] = ticking.errors
        figures["light_tick_error_kinds"] = dict(ticking.error_kinds)
        figures["light_server_rss_mb"] = round(rss_open, 1)
        del cpu_open
    finally:
        ticking.close()
        for screen in crowd:
            if screen.sock is not None:
                screen.sock.close()
        client.close()
    return figures


NAIVE_POLL_S: Final = 2.0  # the wall's poll interval (IOC_WALL_REFRESH_MS's default)


def _drain(crowd: list[LightScreen], timeout_s: float) -> None:
    """Until no screen has a tick in flight."""
    deadline = time.monotonic() + timeout_s
    while any(s.pending for s in crowd) and time.monotonic() < deadline:
        time.sleep(0.05)


def _phase(
    run: RunningIoc,
    client: Client,
    city: City,
    crowd: list[LightScreen],
    ticking: TickClient,
    changes: int,
    change_every_s: float,
    redis_url: str,
    *,
    naive: bool,
) -> dict[str, Any]:
    """`changes` readings `change_every_s` apart while the crowd listens (push) or polls (naive); the figures."""
    stop = threading.Event()
    versions: list[tuple[float, str]] = []
    watcher = threading.Thread(target=_version_times, args=(client, run.keys, stop, versions), daemon=True)
    watcher.start()
    listener = threading.Thread(
        target=_poll if naive else _listen, args=(crowd, ticking, stop), daemon=True, name="light-screens"
    )
    written: list[float] = []
    rss_by_change: list[float] = []
    errors_before = ticking.errors
    cpu_from, _ = process_figures(run.pid)
    own_from = time.process_time()
    started = time.monotonic()
    listener.start()
    try:
        time.sleep(1.0)
        for index in range(changes):
            written.append(time.monotonic())
            write_level(redis_url, run.keys, city, 1.20 + (index % 40) / 100)
            rss_by_change.append(process_figures(run.pid)[1])
            time.sleep(change_every_s)
        time.sleep(NAIVE_POLL_S + 1.0)  # the last change's polls too
    finally:
        stop.set()
        listener.join(timeout=30)
        _drain(crowd, 60)
        watcher.join(timeout=5)
    spent = time.monotonic() - started
    cpu_to, rss = process_figures(run.pid)
    latencies, missed = _deliveries(crowd, written, versions)
    ticks = sum(len(s.ticks) for s in crowd)
    return {
        "deliveries": len(latencies),
        "missed": missed,
        "p50_ms": _percentile(latencies, 0.5),
        "p95_ms": _percentile(latencies, 0.95),
        "ticks_per_s": round(ticks / spent, 1),
        "tick_errors": ticking.errors - errors_before,
        "server_cpu_cores": round((cpu_to - cpu_from) / spent, 2),
        "server_cpu_ms_per_screen_per_s": round((cpu_to - cpu_from) / spent / max(len(crowd), 1) * 1000, 3),
        "client_cpu_cores": round((time.process_time() - own_from) / spent, 2),
        "server_rss_mb": round(rss, 1),
        "server_rss_mb_every_10_changes": [round(x, 1) for x in rss_by_change[::10]],
        "server_rss_mb_first_last_max": [round(x, 1) for x in (rss_by_change[0], rss_by_change[-1], max(rss_by_change))]
        if rss_by_change
        else None,
    }


def _listen(crowd: list[LightScreen], ticking: TickClient, stop: threading.Event) -> None:
    """Read every push stream; a "change" event rings its screen's tick."""
    selector = selectors.DefaultSelector()
    for screen in crowd:
        if screen.sock is not None:
            selector.register(screen.sock, selectors.EVENT_READ, screen)
    while not stop.is_set():
        for key, _ in selector.select(timeout=0.1):
            screen = key.data
            try:
                text = key.fileobj.recv(65536)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except OSError:
                text = b""
            if not text:
                selector.unregister(key.fileobj)
                continue
            screen.buffer = (screen.buffer + text)[-256:]
            if b"event: change" in text:
                ticking.ring(screen)
    selector.close()


def _poll(crowd: list[LightScreen], ticking: TickClient, stop: threading.Event) -> None:
    """Every screen polls every NAIVE_POLL_S (staggered over the interval), each poll asking for the whole wall."""
    started = time.monotonic()
    step = NAIVE_POLL_S / max(len(crowd), 1)
    rounds = 0
    while not stop.is_set():
        for index, screen in enumerate(crowd):
            due = started + rounds * NAIVE_POLL_S + index * step
            if (wait := due - time.monotonic()) > 0 and stop.wait(wait):
                return
            ticking.ring(screen, full=True)
        rounds += 1


def describe_light_screens(figures: dict[str, Any]) -> list[str]:
    """The printed lines of the light screens' figures."""
    lines = [
        f"light screens on one ioc run: {figures['light_screens']} screens, {figures['light_changes']} changes "
        f"{figures['light_change_every_s']} s apart; streams refused {figures['light_streams_refused']}, "
        f"server memory per screen {figures['light_server_mb_per_screen']} MB; the whole ioc run idle (no stream "
        f"open, no change): {figures['light_idle_server_cpu_cores']} cores"
    ]
    for kind, label in (
        ("push", "push, shared picture"),
        ("naive", f"naive, whole wall per poll every {NAIVE_POLL_S:g} s"),
    ):
        if f"light_{kind}_p95_ms" not in figures:
            continue  # that phase did not run (--light-no-naive)
        lines.append(
            f"  {label}: delivery p50 {figures[f'light_{kind}_p50_ms']} ms, p95 {figures[f'light_{kind}_p95_ms']} ms "
            f"({figures[f'light_{kind}_deliveries']} delivered, {figures[f'light_{kind}_missed']} missed), "
            f"{figures[f'light_{kind}_ticks_per_s']} ticks/s, errors {figures[f'light_{kind}_tick_errors']}, "
            f"server CPU {figures[f'light_{kind}_server_cpu_cores']} cores "
            f"({figures[f'light_{kind}_server_cpu_ms_per_screen_per_s']} ms per screen per s), "
            f"client CPU {figures[f'light_{kind}_client_cpu_cores']} cores; server memory at the first change, "
            f"the last, most: {figures[f'light_{kind}_server_rss_mb_first_last_max']} MB"
        )
    return lines
