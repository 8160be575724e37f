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
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app_factory import serving
from benchmarks.browser import BrowserPage
from benchmarks.throughput import wipe
from callbacks import resources_of
from callbacks.auth.principal import PRINCIPALS_NOTE
from callbacks.wall.tick import PICTURES_NOTE, WallPictures
from ioc.aggregator import Aggregator
from ioc.caches import VersionedCache
from ioc.city import City
from ioc.cluster import Client
from ioc.identity.changes import CACHE_SIZE, MAX_AGE_S
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


def measure_wall_polls(
    client: Client,
    settings: Settings,
    city: City,
    events: Iterator[SimEvent],
    *,
    screens: int = 20,
    rounds: int = 6,
    ticks: int = 3,
) -> dict[str, Any]:
    """Wall polls per second served by one process, before (each screen's tick works out its own picture and its
    session is checked in SQL) and after (one picture per data version, principals kept), alternating in one run.

    `screens` wall screens, each signed in with a display token of its own, tick in turn through the real app (Flask's
    test client, one thread: the server's work per poll, with no HTTP server in between); between two rounds of
    ticks 120 simulated seconds of events are aggregated (untimed), so every round is a new data version, as at
    `ioc run`'s 60x with a 2 s refresh. Each of `rounds` runs `ticks` rounds of both, in alternating order."""
    with tempfile.TemporaryDirectory(prefix="ioc-bench-polls-") as data_dir:
        return _measure_polls(
            client, settings, city, events, screens=screens, rounds=rounds, ticks=ticks, data_dir=Path(data_dir)
        )


def _measure_polls(
    client: Client,
    settings: Settings,
    city: City,
    events: Iterator[SimEvent],
    *,
    screens: int,
    rounds: int,
    ticks: int,
    data_dir: Path,
) -> dict[str, Any]:
    keys = Keys(f"bench-polls-{uuid.uuid4().hex[:8]}")
    app_settings = settings.model_copy(
        update={"namespace": keys.namespace, "data_dir": data_dir, "database_url": None, "secret_key": None}
    )
    aggregator = Aggregator(client, keys, city, consumer="bench-polls")
    aggregator.setup()
    rates: dict[str, list[float]] = {"before": [], "after": []}
    try:
        with serving(app_settings) as app:
            res = resources_of(app.server)
            res.database.upgrade()
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

            feed(2 * 3600)
            tokens = [create_display_token(res.database, f"bench-{n}", actor="bench")[1] for n in range(screens)]
            pages = [BrowserPage(app, PATH, "?lang=vi", token=token) for token in tokens]
            after = (VersionedCache[object](max_age_s=MAX_AGE_S, size=CACHE_SIZE), WallPictures())
            before = (VersionedCache[object](max_age_s=0.0, size=0), WallPictures.per_screen())
            modes = {"before": before, "after": after}
            count = 0
            for n in range(rounds):
                for mode in ("before", "after") if n % 2 == 0 else ("after", "before"):
                    principals, pictures = modes[mode]
                    res.notes[PRINCIPALS_NOTE] = principals
                    res.notes[PICTURES_NOTE] = pictures
                    spent = 0.0
                    for _ in range(ticks):
                        feed(SECONDS_PER_TICK)
                        count += 1
                        started = time.perf_counter()
                        for page in pages:
                            page.set(ids.INTERVAL, "n_intervals", count)
                        spent += time.perf_counter() - started
                    rates[mode].append(round(screens * ticks / spent, 1))
    finally:
        aggregator.close()
        wipe(client, keys)
    before_rate, after_rate = (statistics.median(rates[mode]) for mode in ("before", "after"))
    return {
        "polls_screens": screens,
        "polls_before_per_s": round(before_rate, 1),
        "polls_after_per_s": round(after_rate, 1),
        "polls_speedup": round(after_rate / before_rate, 2),
        "polls_before_per_round": rates["before"],
        "polls_after_per_round": rates["after"],
    }
