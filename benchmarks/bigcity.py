"""The wall of a big city: a generated city (`ioc city generate`: `sensors` sensors, two road segments for every five
sensors) served by `ioc web` (gunicorn, as in production) on this machine's Redis, its state fed by the aggregator from
a few simulated minutes of the normal day. Measured:

- first render in headless Chromium: from opening the wall (a display token's link) until every road segment is drawn
  and the first map state is applied; again on a reload, with the geometry files kept by the browser;
- an update in Chromium: 1 % of the sensors change state (device.status.changed, through the aggregator) until the
  page's map holds the new state;
- bytes per update when 1 % of the sensors change: the tick's response (whole, and its map part), the browser's store
  fed back as a browser does (benchmarks.browser over HTTP);
- delivery to `screens` screens: each change committed, every screen asks its tick at once (as push rings them), time
  from the commit to each screen's response (p50, p95). The ring itself (`/push/wall`) is benchmarks/push.py's.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from benchmarks.browser import BrowserPage
from benchmarks.throughput import BENCH_START, wipe
from ioc.aggregator import Aggregator
from ioc.city import City, load_city
from ioc.cluster import Client
from ioc.db import open_database
from ioc.events import DeviceStatusChanged, encode_event
from ioc.identity.tokens import create_display_token
from ioc.keys import Keys
from ioc.settings import Settings
from layouts.wall import ids
from layouts.wall.page import PATH
from simulators import load_scenario
from simulators.citygen import write_city
from simulators.engine import SimEvent, generate
from simulators.runner import write_events

IOC: Final = Path(sys.executable).with_name("ioc")
CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHANGED_SHARE: Final = 0.01
FEED_S: Final = 300.0  # simulated seconds of the normal day fed before measuring
RENDERED_JS: Final = (
    "(() => { const m = window.wallMap; if (!m) return false; const s = m.status();"
    " return s.applied > 0 && (s.drawn['{segments}'] || 0) >= {count}; })()"
)


def browser_available() -> bool:
    """Whether headless Chromium and Playwright are here."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return CHROMIUM.exists()


def measure_big_city(
    client: Client,
    redis_url: str,
    *,
    sensors: int,
    rounds: int = 5,
    screens: int = 100,
    seed: int = 1,
    browser: bool = True,
) -> dict[str, Any]:
    """Generate the city, serve it and measure (see the module's note); everything made is removed after."""
    with tempfile.TemporaryDirectory(prefix="ioc-bench-city-") as folder:
        root = Path(folder)
        segments = max(1, sensors * 2 // 5)
        write_city(root / "city", sensors, segments, seed)
        city = load_city(root / "city")
        keys = Keys(f"bench-city-{uuid.uuid4().hex[:8]}")
        try:
            with _served(root, city, redis_url, keys) as (base_url, token):
                return _measure(
                    client, city, keys, base_url, token, rounds=rounds, screens=screens, seed=seed, browser=browser
                )
        finally:
            wipe(client, keys)


@contextmanager
def _served(root: Path, city: City, redis_url: str, keys: Keys) -> Iterator[tuple[str, str]]:
    """`ioc web` serving the city on a free port, and a display token's secret for its screens."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    data = root / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update(
        IOC_DATA_DIR=str(data),
        IOC_CITY_DIR=str(root / "city"),
        IOC_REDIS_URL=redis_url,
        IOC_NAMESPACE=keys.namespace,
        IOC_WEB_HOST="127.0.0.1",
        IOC_WEB_PORT=str(port),
        IOC_TILE_URL="",
        IOC_LANGUAGE="vi",
    )
    log = (root / "web.log").open("ab")
    web = subprocess.Popen([str(IOC), "web"], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=root)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/login", timeout=5) as reply:
                    reply.read()
                break
            except OSError:
                if web.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ioc web did not start: {(root / 'web.log').read_text()[-2000:]}") from None
                time.sleep(0.2)
        database = open_database(Settings(data_dir=data))
        try:
            _, secret = create_display_token(database, "bench-city", actor="benchmark")
        finally:
            database.close()
        yield base_url, secret
    finally:
        web.terminate()
        try:
            web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait()
        log.close()


class Flipper:
    """Changes 1 % of the sensors' states per call (offline <-> online, a device's own report), through the
    aggregator, at event times just after the fed simulation."""

    def __init__(self, client: Client, keys: Keys, city: City, aggregator: Aggregator, at: float, seed: int) -> None:
        self.client, self.keys, self.aggregator = client, keys, aggregator
        self.ids = sorted(city.sensors)
        self.rng = random.Random(seed)
        self.at = at
        self.down: set[str] = set()

    def flip(self) -> list[str]:
        """Change 1 % of the sensors (at least one) and wait until the aggregator committed it; the ids changed."""
        chosen = self.rng.sample(self.ids, max(1, round(len(self.ids) * CHANGED_SHARE)))
        self.at += 1.0
        events = []
        for sensor in chosen:
            status: Literal["online", "offline"] = "online" if sensor in self.down else "offline"
            self.down.symmetric_difference_update({sensor})
            event = DeviceStatusChanged(
                v=1,
                type="device.status.changed",
                ts=datetime.fromtimestamp(self.at, UTC),
                sensor=sensor,
                status=status,
            )
            events.append(SimEvent(at=self.at, domain="device", fields=encode_event(event)))
        write_events(self.client, self.keys, events, maxlen=1_000_000)
        self.aggregator.heartbeat(self.aggregator.drain())
        return chosen


def feed_normal_day(client: Client, keys: Keys, city: City, aggregator: Aggregator, seed: int) -> float:
    """A few simulated minutes of the normal day, aggregated; the last event's time."""
    events = generate(city, load_scenario("normal-day"), seed, BENCH_START)
    batch: list[SimEvent] = []
    first = next(events)
    batch.append(first)
    for event in events:
        if event.at > first.at + FEED_S:
            break
        batch.append(event)
    write_events(client, keys, batch, maxlen=1_000_000)
    aggregator.heartbeat(aggregator.drain())
    return batch[-1].at


def _measure(
    client: Client,
    city: City,
    keys: Keys,
    base_url: str,
    token: str,
    *,
    rounds: int,
    screens: int,
    seed: int,
    browser: bool,
) -> dict[str, Any]:
    aggregator = Aggregator(client, keys, city, consumer="bench-city")
    aggregator.setup()
    try:
        last = feed_normal_day(client, keys, city, aggregator, seed)
        flipper = Flipper(client, keys, city, aggregator, last, seed)
        figures: dict[str, Any] = {
            "city_sensors": len(city.sensors),
            "city_segments": len(city.segments),
            "city_changed_per_update": max(1, round(len(city.sensors) * CHANGED_SHARE)),
        }
        figures |= _geometry_bytes(base_url, token)
        if browser and browser_available():
            figures |= _in_chromium(city, base_url, token, flipper)
        figures |= _update_bytes(base_url, token, flipper, rounds)
        if screens > 0:
            figures |= _delivery(base_url, token, flipper, rounds, screens)
        return figures
    finally:
        aggregator.close()


def _geometry_bytes(base_url: str, token: str) -> dict[str, Any]:
    """What the geometry files weigh, gzipped as sent and plain."""
    page = BrowserPage(base_url, PATH, token=token)
    text = str(page.page)
    plain = zipped = 0
    for layer in (ids.SEGMENTS, ids.CAMERAS, ids.SPEED_CAMERAS, ids.STATIONS, ids.RAIN_GAUGES, ids.HOTSPOTS):
        start = text.index(f"/city/geometry/{layer}.json")
        path = text[start : text.index("'", start)]
        cookie = _cookie(page)
        for encoding in ("identity", "gzip"):
            request = urllib.request.Request(base_url + path, headers={"Cookie": cookie, "Accept-Encoding": encoding})
            with urllib.request.urlopen(request, timeout=60) as reply:
                size = len(reply.read())
            if encoding == "gzip":
                zipped += size
            else:
                plain += size
    layout = len(BrowserPage(base_url, PATH, token=token).http.request("GET", "/_dash-layout").body)
    return {"city_geometry_bytes": plain, "city_geometry_gzip_bytes": zipped, "city_shell_layout_bytes": layout}


def _cookie(page: BrowserPage) -> str:
    """The session cookie of a BrowserPage over HTTP (benchmarks.browser.UrlHttp)."""
    jar = getattr(page.http, "cookies", None) or getattr(page.http, "jar", None)
    if jar is None:
        raise RuntimeError("no cookie jar on this page's HTTP")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def _in_chromium(city: City, base_url: str, token: str, flipper: Flipper) -> dict[str, Any]:
    """First render (cold, then a reload with the geometry kept) and one 1 % update, in headless Chromium."""
    from playwright.sync_api import sync_playwright

    rendered = RENDERED_JS.replace("{segments}", ids.SEGMENTS).replace("{count}", str(len(city.segments)))
    with tempfile.TemporaryDirectory(prefix="ioc-bench-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1920, "height": 1080},
        )
        try:
            page = context.new_page()
            page.route(
                "**/*", lambda route: route.continue_() if route.request.url.startswith(base_url) else route.abort()
            )
            started = time.perf_counter()
            page.goto(f"{base_url}/display?token={token}")
            loaded = time.perf_counter() - started
            drawn_js = rendered.replace("s.applied > 0 && ", "")
            _wait(page, drawn_js, 120)
            drawn = time.perf_counter() - started
            _wait(page, rendered, 120)
            cold = time.perf_counter() - started
            started = time.perf_counter()
            page.reload()
            _wait(page, rendered, 120)
            warm = time.perf_counter() - started
            page.wait_for_timeout(1000)
            changed = flipper.flip()
            started = time.perf_counter()
            wanted = "offline" if changed[0] in flipper.down else "unknown"
            probe = (
                "(() => { const held = window.wallMap.status().held; for (const layer in held) {"
                f" if ((held[layer]['{changed[0]}'] || 'unknown') === '{wanted}') return true; }} return false; }})()"
            )
            _wait(page, probe, 60)
            update = time.perf_counter() - started
        finally:
            context.close()
    return {
        "city_first_render_s": round(cold, 2),
        "city_first_render_loaded_s": round(loaded, 2),
        "city_first_render_drawn_s": round(drawn, 2),
        "city_reload_render_s": round(warm, 2),
        "city_browser_update_s": round(update, 2),
    }


def _wait(page: Any, expression: str, timeout_s: float) -> None:
    """Until a JavaScript expression is true in the page (asked every 50 ms through the DevTools protocol)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise RuntimeError(f"still false after {timeout_s} s: {expression}")
        page.wait_for_timeout(50)


def _map_part(reply_values: dict[str, dict[str, Any]]) -> int:
    """The size of the map's change in a tick's response (its JSON text)."""
    carried = reply_values.get(ids.MAP_DELTA, {}).get("data-delta")
    return len(carried.encode()) if isinstance(carried, str) else 0


def _update_bytes(base_url: str, token: str, flipper: Flipper, rounds: int) -> dict[str, Any]:
    """The first tick's size, then the size of each tick after 1 % of the sensors changed."""
    page = BrowserPage(base_url, PATH, "?lang=vi", token=token)
    count = 1
    (first,) = page.set(ids.INTERVAL, "n_intervals", count)
    sizes: list[int] = []
    map_sizes: list[int] = []
    for _ in range(rounds):
        flipper.flip()
        count += 1
        (reply,) = page.set(ids.INTERVAL, "n_intervals", count)
        sizes.append(reply.size)
        map_sizes.append(_map_part(reply.values))
    return {
        "city_first_tick_bytes": first.size,
        "city_first_tick_map_bytes": _map_part(first.values),
        "city_update_bytes": round(statistics.median(sizes)),
        "city_update_max_bytes": max(sizes),
        "city_update_map_bytes": round(statistics.median(map_sizes)),
        "city_update_rounds": rounds,
    }


def _delivery(base_url: str, token: str, flipper: Flipper, rounds: int, screens: int) -> dict[str, Any]:
    """Each change committed, every screen ticks at once; ms from the commit to each screen's response."""
    pages = [BrowserPage(base_url, PATH, "?lang=vi", token=token) for _ in range(screens)]
    counts = [1] * screens
    lock = threading.Lock()

    def tick(index: int, since: float) -> float:
        with lock:
            counts[index] += 1
            count = counts[index]
        (reply,) = pages[index].set(ids.INTERVAL, "n_intervals", count)
        if reply.status != 200:
            raise RuntimeError(f"a screen's tick answered HTTP {reply.status}")
        return (time.perf_counter() - since) * 1000

    latencies: list[float] = []
    with ThreadPoolExecutor(max_workers=screens) as pool:
        list(pool.map(lambda i: tick(i, time.perf_counter()), range(screens)))  # each screen's first (whole) map
        for _ in range(rounds):
            flipper.flip()
            committed = time.perf_counter()
            latencies += pool.map(tick, range(screens), [committed] * screens)
    latencies.sort()
    return {
        "city_screens": screens,
        "city_delivery_p50_ms": round(latencies[len(latencies) // 2], 1),
        "city_delivery_p95_ms": round(latencies[int(len(latencies) * 0.95)], 1),
        "city_delivery_max_ms": round(latencies[-1], 1),
    }


def describe_big_city(figures: dict[str, Any]) -> list[str]:
    """The figures as lines of text."""
    lines = [
        f"big city:                {figures['city_sensors']:,} sensors, {figures['city_segments']:,} segments; "
        f"geometry {figures['city_geometry_gzip_bytes']:,} bytes gzipped ({figures['city_geometry_bytes']:,} plain), "
        f"fetched once and kept",
    ]
    if "city_first_render_s" in figures:
        lines.append(
            f"big city, Chromium:      first render {figures['city_first_render_s']} s (target < 3 s; page loaded "
            f"{figures['city_first_render_loaded_s']} s, features drawn {figures['city_first_render_drawn_s']} s), "
            f"reloaded {figures['city_reload_render_s']} s, a 1 % update shown in {figures['city_browser_update_s']} s"
        )
    lines.append(
        f"big city, per update:    {figures['city_update_bytes']:,} bytes median, {figures['city_update_max_bytes']:,} "
        f"max, map part {figures['city_update_map_bytes']:,} bytes, with {figures['city_changed_per_update']} sensors "
        f"(1 %) changed (target < 10 KB); first tick {figures['city_first_tick_bytes']:,} bytes"
    )
    if "city_screens" in figures:
        lines.append(
            f"big city, {figures['city_screens']} screens:   each update delivered p50 "
            f"{figures['city_delivery_p50_ms']} ms, p95 {figures['city_delivery_p95_ms']} ms (target < 1 s), "
            f"max {figures['city_delivery_max_ms']} ms"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.bigcity --sensors 10000` on a fresh embedded Redis (or IOC_REDIS_URL)."""
    import argparse
    import json

    from benchmarks.throughput import redis_for_bench

    parser = argparse.ArgumentParser(prog="python -m benchmarks.bigcity", description=__doc__)
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--screens", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with redis_for_bench(os.environ.get("IOC_REDIS_URL")) as (client, url, _):
        figures = measure_big_city(client, url, sensors=args.sensors, rounds=args.rounds, screens=args.screens)
    print("\n".join(describe_big_city(figures)))
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
