"""Kill the aggregator process (SIGKILL) while it works through a stream, restart it, and check exact counts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis

from ioc.city import City
from ioc.clock import declare_replay
from ioc.events import TrafficSpeedObserved, encode_event
from ioc.keys import AGGREGATOR_GROUP, Keys
from ioc.rollup import decode_minute

ICT = timezone(timedelta(hours=7))
T0 = datetime(2026, 11, 22, 6, 0, tzinfo=ICT)
TOTAL_GOOD = 6_000
TOTAL_BAD = 60


def _start_aggregator(redis_url: str, keys: Keys, repo_root: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "IOC_REDIS_URL": redis_url,
        "IOC_NAMESPACE": keys.namespace,
        "IOC_CONSUMER_NAME": "agg-crash",
        "IOC_BATCH_SIZE": "40",
    }
    code = (
        "import threading; from ioc.settings import load_settings; from ioc.aggregator import run_aggregator; "
        "run_aggregator(load_settings(), threading.Event())"
    )
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=repo_root)


def _handled(r: redis.Redis, keys: Keys) -> int:
    stats = r.hgetall(keys.stats("traffic"))
    return int(stats.get("processed", 0)) + int(stats.get("deadletter", 0))


def _wait_for(r: redis.Redis, keys: Keys, at_least: int, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        handled = _handled(r, keys)
        if handled >= at_least:
            return handled
        time.sleep(0.005)
    raise AssertionError(f"aggregator handled {_handled(r, keys)} < {at_least} in {timeout_s} s")


def _wait_for_idle_loops(r: redis.Redis, keys: Keys, loops: int, timeout_s: float = 30.0) -> None:
    """Wait until the aggregator's heartbeat shows `loops` more passes of its loop."""
    deadline = time.monotonic() + timeout_s
    seen: set[str] = set()
    first = r.hget(keys.heartbeat(), "loop")
    while time.monotonic() < deadline:
        beat = r.hget(keys.heartbeat(), "loop")
        if beat is not None and beat != first:
            seen.add(beat)
            if len(seen) >= loops:
                return
        time.sleep(0.01)
    raise AssertionError(f"the aggregator's loop did not turn {loops} times in {timeout_s} s")


def test_sigkill_mid_stream_then_restart_gives_exact_counts(r, keys, city: City, redis_url, repo_root) -> None:
    rng = random.Random(11)
    cameras = city.sensors_of("traffic_camera")
    expected_weight: Counter[str] = Counter()
    declare_replay(r, keys, start=T0.timestamp(), source="tests")
    pipe = r.pipeline(transaction=False)
    bad_positions = set(rng.sample(range(TOTAL_GOOD + TOTAL_BAD), TOTAL_BAD))
    good = 0
    for position in range(TOTAL_GOOD + TOTAL_BAD):
        camera = cameras[position % len(cameras)]
        segment = camera.segments[position % len(camera.segments)]
        vehicles = rng.randint(0, 60)
        fields = encode_event(
            TrafficSpeedObserved(
                v=1,
                type="traffic.speed.observed",
                ts=T0 + timedelta(seconds=position),
                sensor=camera.id,
                segment=segment,
                speed_kmh=round(rng.uniform(5, 60), 1),
                vehicles=vehicles,
                interval_s=60,
            )
        )
        if position in bad_positions:
            fields["vehicles"] = "many"
        else:
            expected_weight[segment] += max(vehicles, 1)
            good += 1
        pipe.xadd(keys.events("traffic"), fields)
    pipe.execute()
    assert good == TOTAL_GOOD
    total = TOTAL_GOOD + TOTAL_BAD

    kills = 0
    for fraction in (0.15, 0.45, 0.75):
        process = _start_aggregator(redis_url, keys, repo_root)
        try:
            _wait_for(r, keys, int(total * fraction))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        kills += 1
        # Killed mid-stream: its last read batch is typically still pending.
        assert _handled(r, keys) < total
    process = _start_aggregator(redis_url, keys, repo_root)
    try:
        _wait_for(r, keys, total)
        _wait_for_idle_loops(r, keys, 2)  # it polled again and found nothing: a double count would show now
        stats = r.hgetall(keys.stats("traffic"))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)

    assert kills == 3
    assert int(stats["processed"]) == TOTAL_GOOD
    assert int(stats["deadletter"]) == TOTAL_BAD
    assert r.xlen(keys.deadletter("traffic")) == TOTAL_BAD
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 0
    weight: Counter[str] = Counter()
    for key in r.scan_iter(match=keys.speed_minute(0).replace(":0", ":*"), count=1000):
        for segment, (_, segment_weight) in decode_minute(r.hgetall(key)).items():
            weight[segment] += segment_weight
    assert weight == expected_weight
