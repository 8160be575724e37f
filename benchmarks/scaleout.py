"""Events per second through one and through two aggregator processes on a local three-master Redis Cluster
(benchmarks/cluster.py, loopback only), side by side: each round drains fresh, identical copies of the same simulated
events once with one aggregator and once with two (distinct consumer names in the one group), alternating, and the
medians are reported. The aggregators are processes of their own (forked, started together by an event), as
`ioc aggregator` runs; the time is from their start signal to the last one finding the streams empty."""

from __future__ import annotations

import multiprocessing
import statistics
import tempfile
import time
import uuid
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from benchmarks.cluster import local_cluster
from benchmarks.throughput import copy_namespace, load_events, wipe
from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.keys import DOMAINS, Keys
from ioc.store import connect_url


def _drain(url: str, city: City, namespace: str, consumer: str, batch_size: int, go: Event, ends: Any) -> None:
    """One aggregator process: join the group, wait for the start signal, drain, report (consumer, handled, end)."""
    client = connect_url(url, socket_timeout=60, cluster=True)
    aggregator = Aggregator(client, Keys(namespace), city, consumer=consumer, batch_size=batch_size)
    aggregator.setup()
    go.wait()
    handled = aggregator.drain()
    aggregator.close()
    ends.put((consumer, handled, time.monotonic()))
    client.close()


def _round(url: str, city: City, keys: Keys, aggregators: int, batch_size: int, expected: int) -> float:
    """Drain one copy with `aggregators` processes; events per second."""
    forked = multiprocessing.get_context("fork")
    go, ends = forked.Event(), forked.Queue()
    workers = [
        forked.Process(target=_drain, args=(url, city, keys.namespace, f"bench-{n}", batch_size, go, ends))
        for n in range(aggregators)
    ]
    for worker in workers:
        worker.start()
    time.sleep(1.0)  # each has connected and joined the group
    started = time.monotonic()
    go.set()
    results = [ends.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    handled = sum(count for _, count, _ in results)
    if handled < expected:
        raise RuntimeError(f"{aggregators} aggregators handled {handled} of {expected} events")
    ended: float = max(end for _, _, end in results)
    return expected / (ended - started)


def measure_cluster(city: City, *, events: int, rounds: int, batch_size: int, seed: int) -> dict[str, Any]:
    """One and two aggregators on a local three-master cluster, alternating over `rounds` rounds."""
    with tempfile.TemporaryDirectory(prefix="ioc-bench-cluster-") as folder, local_cluster(Path(folder)) as cluster:
        client = connect_url(cluster.url, socket_timeout=60, cluster=True)
        source = Keys(f"bench-src-{uuid.uuid4().hex[:8]}")
        written = load_events(client, source, city, events, seed)
        rates: dict[int, list[float]] = {1: [], 2: []}
        try:
            for _ in range(rounds):
                for aggregators in (1, 2):
                    keys = Keys(f"bench-c{aggregators}-{uuid.uuid4().hex[:8]}")
                    copy_namespace(client, source, keys)
                    try:
                        rates[aggregators].append(_round(cluster.url, city, keys, aggregators, batch_size, written))
                        done = sum(
                            int(client.hget(keys.stats(d), "processed") or 0)
                            + int(client.hget(keys.stats(d), "deadletter") or 0)
                            for d in DOMAINS
                        )
                        if done != written:
                            raise RuntimeError(f"{aggregators} aggregators counted {done} of {written} events")
                    finally:
                        wipe(client, keys)
        finally:
            wipe(client, source)
            client.close()
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    return {
        "cluster_events": written,
        "cluster_rounds": rounds,
        "cluster_one_aggregator_events_per_s": round(one),
        "cluster_two_aggregators_events_per_s": round(two),
        "cluster_one_per_round": [round(rate) for rate in rates[1]],
        "cluster_two_per_round": [round(rate) for rate in rates[2]],
        "cluster_two_over_one": round(two / one, 2),
    }


def describe_cluster(figures: dict[str, Any]) -> list[str]:
    """The cluster figures as printed lines."""
    return [
        f"cluster (3 masters, loopback): {figures['cluster_events']:,} events per round, "
        f"{figures['cluster_rounds']} rounds",
        f"  one aggregator:          {figures['cluster_one_aggregator_events_per_s']:,} events/s (median; rounds "
        f"{figures['cluster_one_per_round']})",
        f"  two aggregators:         {figures['cluster_two_aggregators_events_per_s']:,} events/s (median; rounds "
        f"{figures['cluster_two_per_round']}); two/one {figures['cluster_two_over_one']}",
    ]
