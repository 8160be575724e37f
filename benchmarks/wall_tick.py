"""Bytes a browser receives per wall tick, measured through the real Dash app (the process's one app, serving the
bench's settings: app_factory.serving) with Flask's test client. The tick is posted exactly as the browser posts it
(benchmarks.browser), by a wall screen signed in with a display token (the bench makes a throw-away data folder with
its own SQLite database for it); the response's per-browser store is fed back into the next request, as the browser
does, while simulated events flow between ticks. Signing in adds a session cookie to the headers only: the tick
bodies measured are the same.
"""

from __future__ import annotations

import gzip
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app_factory import serving
from benchmarks.browser import BrowserPage
from benchmarks.throughput import wipe
from callbacks import resources_of
from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.cluster import Client
from ioc.identity.tokens import create_display_token
from ioc.keys import Keys
from ioc.settings import Settings
from layouts.wall import ids
from layouts.wall.page import PATH
from simulators.engine import SimEvent
from simulators.runner import write_events

SECONDS_PER_TICK = 120.0  # `ioc run` plays the day at 60x and the wall refreshes every 2 s


def measure_tick_bytes(
    client: Client, settings: Settings, city: City, events: Iterator[SimEvent], *, ticks: int = 20
) -> dict[str, Any]:
    """Post `ticks` wall ticks with events arriving between them; return first and steady response sizes.

    The app reads the Redis of `settings` (the one `client` talks to) in a namespace of its own, removed after; its
    accounts database is an SQLite file in a temporary folder, also removed after."""
    with tempfile.TemporaryDirectory(prefix="ioc-bench-web-") as data_dir:
        return _measure(client, settings, city, events, ticks=ticks, data_dir=Path(data_dir))


def _measure(
    client: Client, settings: Settings, city: City, events: Iterator[SimEvent], *, ticks: int, data_dir: Path
) -> dict[str, Any]:
    keys = Keys(f"bench-tick-{uuid.uuid4().hex[:8]}")
    app_settings = settings.model_copy(
        update={"namespace": keys.namespace, "data_dir": data_dir, "database_url": None, "secret_key": None}
    )
    aggregator = Aggregator(client, keys, city, consumer="bench-tick")
    aggregator.setup()
    sizes: list[int] = []
    gzipped: list[int] = []
    try:
        with serving(app_settings) as app:
            database = resources_of(app.server).database
            database.upgrade()
            _, token = create_display_token(database, "bench-wall", actor="bench")
            pending = next(events)

            def feed(seconds: float) -> None:
                nonlocal pending
                batch: list[SimEvent] = []
                until = pending.at + seconds
                while pending.at < until:
                    batch.append(pending)
                    pending = next(events)
                write_events(client, keys, batch, maxlen=1_000_000)
                aggregator.heartbeat(aggregator.drain())

            feed(2 * 3600)  # two hours of history, so the chart has a full window
            page = BrowserPage(app, PATH, "?lang=vi", token=token)
            for n in range(ticks):
                (reply,) = page.set(ids.INTERVAL, "n_intervals", n + 1)
                sizes.append(reply.size)
                gzipped.append(len(gzip.compress(reply.body)))
                feed(SECONDS_PER_TICK)
    finally:
        aggregator.close()
        wipe(client, keys)
    steady = sizes[1:]
    return {
        "tick_first_bytes": sizes[0],
        "tick_steady_bytes": round(statistics.median(steady)),
        "tick_steady_max_bytes": max(steady),
        "tick_steady_gzip_bytes": round(statistics.median(gzipped[1:])),
        "tick_count": len(steady),
        "tick_simulated_s": SECONDS_PER_TICK,
    }
