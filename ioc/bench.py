"""`ioc bench`: measured throughput and payload figures, printed in one run so ratios are side by side.

Figures: events/s through the aggregator; the raw XREADGROUP+XACK drain rate of the same Redis from Python
(the ceiling any Python consumer of this Redis can reach); their ratio; bytes sent to a browser per wall tick.
Both drains read identical copies of the same simulated events, alternating over several rounds, so load from
other tenants of a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import redis

from ioc.aggregator import Aggregator, tune_gc
from ioc.city import City, load_city
from ioc.embedded import EmbeddedRedis
from ioc.keys import AGGREGATOR_GROUP, DOMAINS, Keys
from ioc.store import connect_url

log = logging.getLogger(__name__)
BENCH_START = datetime(2026, 1, 5, 6, 0, tzinfo=timezone(timedelta(hours=7)))


@contextmanager
def _redis_for_bench(url: str | None) -> Iterator[tuple[redis.Redis, str, str]]:
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


def _load_events(client: redis.Redis, keys: Keys, city: City, count: int, seed: int) -> int:
    """Write `count` simulated normal-day events into the namespace's raw streams."""
    from itertools import islice

    from simulators import load_scenario
    from simulators.engine import generate
    from simulators.runner import write_events

    events = islice(generate(city, load_scenario("normal-day"), seed, BENCH_START), count)
    return write_events(client, keys, events, maxlen=max(count * 2, 1_000))


def _copy_namespace(client: redis.Redis, source: Keys, target: Keys) -> None:
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


def _wipe(client: redis.Redis, keys: Keys) -> None:
    batch = list(client.scan_iter(match=keys.all_keys_pattern(), count=1000))
    for start in range(0, len(batch), 500):
        client.delete(*batch[start : start + 500])


def raw_drain(client: redis.Redis, keys: Keys, batch_size: int) -> int:
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
    client: redis.Redis, city: City, *, events: int, rounds: int, batch_size: int, seed: int
) -> dict[str, Any]:
    """Aggregator and raw drain rates over identical copies of the same events, alternating per round."""
    source = Keys(f"bench-src-{uuid.uuid4().hex[:8]}")
    written = _load_events(client, source, city, events, seed)
    raw_rates: list[float] = []
    agg_rates: list[float] = []
    try:
        for _ in range(rounds):
            raw_keys = Keys(f"bench-raw-{uuid.uuid4().hex[:8]}")
            agg_keys = Keys(f"bench-agg-{uuid.uuid4().hex[:8]}")
            _copy_namespace(client, source, raw_keys)
            _copy_namespace(client, source, agg_keys)
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
                _wipe(client, raw_keys)
                _wipe(client, agg_keys)
    finally:
        _wipe(client, source)
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


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures (and, with --json, one JSON object on the last line)."""
    parser = argparse.ArgumentParser(prog="ioc bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON object, last line")
    parser.add_argument("--events", type=int, default=30_000, help="simulated events per round (default 30000)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds; medians are reported")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ticks", type=int, default=20, help="wall ticks to measure (default 20)")
    parser.add_argument("--redis-url", default=os.environ.get("IOC_REDIS_URL"),
                        help="Redis to measure (default: IOC_REDIS_URL, else a fresh embedded Redis)")  # fmt: skip
    args = parser.parse_args(argv)
    city = load_city()
    tune_gc()  # as in the aggregator process; the raw drain runs under the same setting
    with _redis_for_bench(args.redis_url) as (client, url, where):
        figures: dict[str, Any] = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "redis": where,
        }
        figures |= measure_throughput(
            client, city, events=args.events, rounds=args.rounds, batch_size=args.batch_size, seed=args.seed
        )
        # The wall is a Dash page: its measurement lives with its callbacks, outside this Dash-free core.
        from callbacks.measure import measure_tick_bytes
        from simulators import load_scenario
        from simulators.engine import generate

        events = generate(city, load_scenario("normal-day"), args.seed, BENCH_START)
        figures |= measure_tick_bytes(client, url, city, events, ticks=args.ticks)
    out = sys.stdout
    out.write(f"machine:                 {figures['machine']}\n")
    out.write(f"redis:                   {figures['redis']}\n")
    out.write(f"events per round:        {figures['events']} (normal-day simulation), {figures['rounds']} rounds, "
              f"batch {figures['batch_size']}\n")  # fmt: skip
    out.write(f"aggregator:              {figures['aggregator_events_per_s']:,} events/s (median)\n")
    out.write(f"raw XREADGROUP+XACK:     {figures['raw_drain_events_per_s']:,} events/s (median)\n")
    spread = f"{min(figures['ratio_per_round'])}-{max(figures['ratio_per_round'])}"
    out.write(f"ratio aggregator/raw:    {figures['ratio']} (median of rounds, range {spread}; target >= 0.5)\n")
    out.write(f"wall tick, first:        {figures['tick_first_bytes']:,} bytes\n")
    out.write(f"wall tick, steady:       {figures['tick_steady_bytes']:,} bytes median, "
              f"{figures['tick_steady_max_bytes']:,} max over {figures['tick_count']} ticks of "
              f"{figures['tick_simulated_s']:.0f} simulated s (target < 20 KB); "
              f"{figures['tick_steady_gzip_bytes']:,} bytes gzipped\n")  # fmt: skip
    if args.json:
        out.write(json.dumps(figures, ensure_ascii=False) + "\n")
    return 0
