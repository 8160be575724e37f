"""Events per second through the aggregator next to the raw XREADGROUP+XACK drain rate of the same Redis (the
ceiling any Python consumer of this Redis can reach), and their ratio. Both drains read identical copies of the same
simulated events, alternating over several rounds, so load from other tenants of a shared machine hits both alike.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any

import redis

from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.cluster import Client
from ioc.embedded import EmbeddedRedis
from ioc.keys import AGGREGATOR_GROUP, DOMAINS, Keys
from ioc.store import connect_url
from simulators import load_scenario
from simulators.engine import generate
from simulators.runner import write_events

BENCH_START = datetime(2026, 1, 5, 6, 0, tzinfo=timezone(timedelta(hours=7)))


@contextmanager
def redis_for_bench(url: str | None) -> Iterator[tuple[Client, str, str]]:
    """The Redis to measure (client, URL, description): the given URL, or a fresh embedded server."""
    if url:
        client = connect_url(url, socket_timeout=60)
        yield client, url, f"server {client.info('server')['redis_version']} at {url.split('@')[-1]}"
        client.close()
        return
    with tempfile.TemporaryDirectory(prefix="ioc-bench-") as folder:
        server = EmbeddedRedis(Path(folder))
        server.start()
        try:
            client = connect_url(server.url, socket_timeout=60)
            yield client, server.url, f"embedded {client.info('server')['redis_version']} (unix socket)"
            client.close()
        finally:
            server.stop()


def load_events(client: Client, keys: Keys, city: City, count: int, seed: int) -> int:
    """Write `count` simulated normal-day events into the namespace's raw streams."""
    events = islice(generate(city, load_scenario("normal-day"), seed, BENCH_START), count)
    return write_events(client, keys, events, maxlen=max(count * 2, 1_000))


def copy_namespace(client: Client, source: Keys, target: Keys) -> None:
    """Give `target` byte-identical raw streams and the same declared clock, so both drains read the same entries."""
    clock = client.hgetall(source.clock())
    if clock:
        client.hset(target.clock(), mapping=clock)
    for domain in DOMAINS:
        entries = client.xrange(source.events(domain))
        pipe = client.pipeline(transaction=False)
        for entry_id, fields in entries:
            pipe.xadd(target.events(domain), fields, id=entry_id)
        pipe.execute()


def wipe(client: Client, keys: Keys) -> None:
    batch = list(client.scan_iter(match=keys.all_keys_pattern(), count=1000))
    for start in range(0, len(batch), 500):
        client.delete(*batch[start : start + 500])


def raw_drain(client: Client, keys: Keys, batch_size: int) -> int:
    """The floor of any correct consumer: XREADGROUP a batch, XACK it, nothing else; returns entries drained."""
    total = 0
    for domain in DOMAINS:
        stream = keys.events(domain)
        with suppress(redis.ResponseError):  # the group exists already
            client.xgroup_create(stream, AGGREGATOR_GROUP, id="0", mkstream=True)
        while True:
            reply = client.xreadgroup(AGGREGATOR_GROUP, "raw", {stream: ">"}, count=batch_size)
            if not reply:
                break
            ids = [entry_id for entry_id, _ in reply[0][1]]
            client.xack(stream, AGGREGATOR_GROUP, *ids)
            total += len(ids)
    return total


def _timed(run: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    count = run()
    return count, time.perf_counter() - started


def measure_throughput(
    client: Client, city: City, *, events: int, rounds: int, batch_size: int, seed: int
) -> dict[str, Any]:
    """Aggregator and raw drain rates over identical copies of the same events, alternating per round."""
    source = Keys(f"bench-src-{uuid.uuid4().hex[:8]}")
    written = load_events(client, source, city, events, seed)
    raw_rates: list[float] = []
    agg_rates: list[float] = []
    try:
        for _ in range(rounds):
            raw_keys = Keys(f"bench-raw-{uuid.uuid4().hex[:8]}")
            agg_keys = Keys(f"bench-agg-{uuid.uuid4().hex[:8]}")
            copy_namespace(client, source, raw_keys)
            copy_namespace(client, source, agg_keys)
            try:
                count, seconds = _timed(lambda k=raw_keys: raw_drain(client, k, batch_size))  # type: ignore[misc]
                raw_rates.append(count / seconds)
                aggregator = Aggregator(client, agg_keys, city, consumer="bench", batch_size=batch_size)
                aggregator.setup()
                count, seconds = _timed(aggregator.drain)
                aggregator.close()
                agg_rates.append(count / seconds)
                if count != written:
                    raise RuntimeError(f"aggregator handled {count} of {written} events")
            finally:
                wipe(client, raw_keys)
                wipe(client, agg_keys)
    finally:
        wipe(client, source)
    # Each round's pair ran back to back, so its ratio is what a noisy shared machine disturbs least: the figure
    # is their median, with the spread alongside.
    per_round = [a / b for a, b in zip(agg_rates, raw_rates, strict=True)]
    return {
        "events": written,
        "rounds": rounds,
        "batch_size": batch_size,
        "aggregator_events_per_s": round(statistics.median(agg_rates)),
        "raw_drain_events_per_s": round(statistics.median(raw_rates)),
        "ratio": round(statistics.median(per_round), 3),
        "ratio_per_round": [round(r, 3) for r in per_round],
    }
