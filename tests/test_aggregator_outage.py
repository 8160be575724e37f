"""Redis goes away under a running aggregator and comes back: the wall reads stale, then everything recovers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis

from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.clock import declare_replay
from ioc.embedded import EmbeddedRedis
from ioc.events import WifiUsageObserved, encode_event
from ioc.keys import Keys
from ioc.snapshot import read_wall_snapshot
from ioc.store import connect_url

ICT = timezone(timedelta(hours=7))
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=ICT)


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def test_aggregator_rides_out_a_redis_restart(tmp_path: Path, city: City, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ioc.aggregator")
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    keys = Keys("outage")
    client = connect_url(server.url, socket_timeout=2)
    declare_replay(client, keys, start=T0.timestamp(), source="tests")
    hotspot = city.sensors_of("wifi_hotspot")[0]

    def send(count: int, offset: int) -> None:
        writer = connect_url(server.url)
        for index in range(count):
            at = T0 + timedelta(seconds=10 * (offset + index))
            writer.xadd(
                keys.events("wifi"),
                encode_event(
                    WifiUsageObserved(
                        v=1, type="wifi.usage.observed", ts=at, sensor=hotspot.id, clients=index, mbps=1.0
                    )
                ),
            )
        writer.close()

    def processed() -> int:
        try:
            return int(client.hget(keys.stats("wifi"), "processed") or 0)
        except (redis.RedisError, OSError):  # while the server is down
            return -1

    aggregator = Aggregator(client, keys, city, consumer="agg-outage")
    stop = threading.Event()
    worker = threading.Thread(target=aggregator.run_forever, args=(stop,), kwargs={"idle_wait_s": 0.05}, daemon=True)
    worker.start()
    try:
        send(50, 0)
        _wait(lambda: processed() == 50, 20, "the first 50 events")

        server.stop()  # SIGTERM: Redis saves its data and exits, as in a restart for maintenance
        probe = connect_url(server.url, socket_timeout=1)
        snapshot = read_wall_snapshot(probe, keys, city, stale_after_s=30)
        assert snapshot.stale and snapshot.stale_reason == "redis"
        _wait(lambda: any("Redis unreachable" in m for m in caplog.messages), 20, "the aggregator to meet the outage")
        assert worker.is_alive(), "the aggregator must survive the outage"

        server.start()
        send(30, 50)
        _wait(lambda: processed() == 80, 30, "the events sent after the restart")
        snapshot = read_wall_snapshot(probe, keys, city, stale_after_s=30)
        assert not snapshot.stale, snapshot.stale_reason
        probe.close()
    finally:
        stop.set()
        worker.join(timeout=10)
        client.close()
        server.stop()
    assert not worker.is_alive()
