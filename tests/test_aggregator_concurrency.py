"""The aggregator's in-memory state and its pipelined commits, against real Redis servers: several consumers on
one namespace, reads sent ahead, the device watchdog, and the bounded roll-up cache."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

from ioc.aggregator.cache import CACHED_MINUTES, StateCache
from ioc.aggregator.commit import Commit
from ioc.events import DeviceStatus, DeviceStatusChanged, encode_event
from ioc.keys import AGGREGATOR_GROUP
from ioc.rollup import decode_minute
from ioc.snapshot import read_wall_snapshot
from tests.test_aggregator import T0, add, make, speed


def _status(sensor: str, minute: int, status: DeviceStatus) -> dict[str, str]:
    return encode_event(
        DeviceStatusChanged(
            v=1,
            type="device.status.changed",
            ts=T0 + timedelta(minutes=minute),
            sensor=sensor,
            status=status,
        )
    )


def test_two_consumers_taking_turns_keep_exact_totals(r, keys, city, caplog: pytest.LogCaptureFixture) -> None:
    """Each consumer's cached state goes stale when the other commits: its next commit is refused and computed
    again on fresh state, so the roll-ups, counters and live state come out as if one consumer did it all."""
    camera = city.sensors_of("traffic_camera")[0]
    segment = camera.segments[0]
    readings = 60
    for n in range(readings):  # three readings a minute, so batches of 7 share minutes with the other consumer
        add(r, keys, "traffic", speed(camera, T0 + timedelta(seconds=20 * n), 20.0 + n % 7, vehicles=3))
    first = make(r, keys, city, consumer="agg-a", batch_size=7)
    second = make(r, keys, city, consumer="agg-b", batch_size=7)
    handled = 0
    with caplog.at_level(logging.INFO, logger="ioc.aggregator"):
        while True:
            turn = first.run_once() + second.run_once()
            first.flush()
            second.flush()
            if not turn:
                break
            handled += turn
    assert handled == readings
    assert any("computing it again" in message for message in caplog.messages), "no commit was ever refused"
    assert r.hget(keys.stats("traffic"), "processed") == str(readings)
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 0
    weights = {}
    for minute in range(readings // 3):
        stored = r.hgetall(keys.speed_minute(int((T0 + timedelta(minutes=minute)).timestamp()) // 60))
        weights[minute] = decode_minute(stored)[segment][1]
    assert weights == {minute: 3 * 3 for minute in range(readings // 3)}
    newest = (T0 + timedelta(seconds=20 * (readings - 1))).timestamp()
    assert read_wall_snapshot(r, keys, city, stale_after_s=60).segments[segment].ts == newest


def test_entries_read_ahead_are_not_claimed_as_left_overs(r, keys, city) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    for minute in range(30):
        add(r, keys, "traffic", speed(camera, T0 + timedelta(minutes=minute), 25.0))
    agg = make(r, keys, city, batch_size=10, claim_idle_ms=0)  # claims even entries idle for no time at all
    assert agg.run_once() == 10  # ... and sends the read of the next 10 ahead
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] >= 10
    assert agg.claim_stuck() == 10  # the 10 read ahead, processed once; nothing else was stuck
    assert agg.recover() == 0
    assert agg.drain() == 10
    assert r.hget(keys.stats("traffic"), "processed") == "30"
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 0


def test_health_changed_by_another_consumer_reaches_a_cached_one(r, keys, city) -> None:
    cameras = city.sensors_of("traffic_camera")
    watcher = make(r, keys, city, consumer="agg-a")
    other = make(r, keys, city, consumer="agg-b")
    add(r, keys, "device", _status(cameras[0].id, 0, "online"))
    add(r, keys, "device", _status(cameras[1].id, 0, "online"))
    assert watcher.drain() == 2  # the watcher now holds device health in memory, both cameras online
    add(r, keys, "device", _status(cameras[1].id, 1, "fault"))
    assert other.drain() == 1  # camera 1 failed, seen by the other consumer only
    add(r, keys, "device", _status(cameras[1].id, 2, "online"))
    assert watcher.drain() == 1  # back online: only news if the watcher knows about the fault
    changes = [(a["old"], a["new"]) for _, a in r.xrange(keys.alerts("device")) if a["place"] == cameras[1].id]
    assert changes == [("unknown", "online"), ("online", "fault"), ("fault", "online")]
    assert read_wall_snapshot(r, keys, city, stale_after_s=60).health[cameras[1].id] == "online"


def test_restarted_consumer_adds_late_readings_to_stored_minutes(r, keys, city) -> None:
    """A fresh consumer holds nothing: a minute written before it started is read, not taken for empty."""
    camera = city.sensors_of("traffic_camera")[0]
    add(r, keys, "traffic", speed(camera, T0, 30.0, vehicles=4))
    add(r, keys, "traffic", speed(camera, T0 + timedelta(minutes=5), 30.0, vehicles=4))
    assert make(r, keys, city, consumer="agg-a").drain() == 2
    add(r, keys, "traffic", speed(camera, T0 + timedelta(seconds=30), 40.0, vehicles=6))  # late, same minute as T0
    assert make(r, keys, city, consumer="agg-a").drain() == 1
    stored = decode_minute(r.hgetall(keys.speed_minute(int(T0.timestamp()) // 60)))
    assert stored[camera.segments[0]] == [300 * 4 + 400 * 6, 10]


def test_cache_knows_which_minutes_it_may_take_for_empty() -> None:
    cache = StateCache()
    assert not cache.holds(1_000)  # knows nothing yet
    cache.fresh_above = 900  # the clock's minute when the state was read; since then it wrote 990 onwards
    cache.minutes = {m: {} for m in range(990, 990 + CACHED_MINUTES + 5)}
    assert cache.holds(995) and cache.holds(950) and cache.holds(5_000) and not cache.holds(900)
    cache.trim_minutes()
    assert len(cache.minutes) == CACHED_MINUTES
    assert not cache.holds(994), "a minute it dropped exists in Redis: it must be read again"
    assert not cache.holds(950) and cache.fresh_above == 994 and cache.holds(995)
    cache.clear()
    assert not cache.holds(5_000) and cache.version is None


def test_batch_taken_over_by_another_consumer_is_applied_once(r, keys, city, caplog) -> None:
    """A consumer stalls holding entries read ahead; another claims and applies them. When the first wakes, its
    commit of those entries is refused for good (not computed again), so nothing is counted twice."""
    camera = city.sensors_of("traffic_camera")[0]
    for minute in range(10):
        add(r, keys, "traffic", speed(camera, T0 + timedelta(minutes=minute), 25.0, vehicles=2))
    slow = make(r, keys, city, consumer="agg-slow", batch_size=5)
    assert slow.run_once() == 5
    slow.flush()  # the first five are applied; the next five were read ahead and are pending on the slow one
    other = make(r, keys, city, consumer="agg-other", claim_idle_ms=0)
    assert other.claim_stuck() == 5
    with caplog.at_level(logging.WARNING, logger="ioc.aggregator"):
        slow.drain()  # computes the five it read ahead; the commit finds them no longer its own
    assert any("taken over by another consumer" in message for message in caplog.messages)
    assert r.hget(keys.stats("traffic"), "processed") == "10"
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 0
    weight = sum(
        decode_minute(r.hgetall(keys.speed_minute(int((T0 + timedelta(minutes=m)).timestamp()) // 60)))[
            camera.segments[0]
        ][1]
        for m in range(10)
    )
    assert weight == 10 * 2


def test_entry_deleted_before_it_was_processed_becomes_a_dead_letter(r, keys, city) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    entry_id = add(r, keys, "traffic", speed(camera, T0, 25.0))
    dead = make(r, keys, city, consumer="agg-dead")
    assert len(dead.read_entries("traffic", ">")) == 1  # read, then that consumer died; then the entry was trimmed away
    r.xdel(keys.events("traffic"), entry_id)
    survivor = make(r, keys, city, consumer="agg-survivor", claim_idle_ms=0)
    assert survivor.drain() == 1  # claimed (Redis 6.2 names it only once it is the survivor's own), dead-lettered
    letters = r.xrange(keys.deadletter("traffic"))
    assert [fields["entry_id"] for _, fields in letters] == [entry_id]
    assert "deleted or trimmed" in letters[0][1]["reason"]
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 0


def test_a_held_minute_near_its_expiry_is_read_again() -> None:
    cache = StateCache()
    cache.minutes = {1_000: {"seg": [1, 1]}, 1_001: {"seg": [1, 1]}}
    cache.expires = {1_000: time.time() + 30, 1_001: time.time() + 3_600}  # its key expires within the margin
    assert not cache.holds(1_000) and cache.holds(1_001)


def test_commit_splits_only_what_can_be_split() -> None:
    commit = Commit("traffic", [("1-0", ["v", "1"]), ("2-0", None)], "stats", "events")
    assert commit.owned == ["1-0"]  # the entry deleted before it was read is not required to be pending
    commit.hset("h", {f"f{n}": "x" for n in range(3_000)})  # 6,000 arguments: two HSETs of whole pairs
    assert [a for a in commit.args if a == "HSET"] == ["HSET", "HSET"]
    counts = [int(commit.args[i + 2]) for i, a in enumerate(commit.args) if a == "HSET"]
    assert sum(counts) == 6_000 and all(c % 2 == 0 for c in counts)
    with pytest.raises(ValueError, match="cannot be split"):
        commit.xadd("s", {f"f{n}": "x" for n in range(3_000)}, 100)


def test_minutes_held_are_read_again_once_another_consumer_committed(r, keys, city) -> None:
    """The consumer holds minute +11 when another adds to it; its next batch also needs a minute it must read
    (+5, late): learning the version moved, it must read +11 again too, not keep its own stale copy."""
    camera = city.sensors_of("traffic_camera")[0]
    segment = camera.segments[0]
    first = make(r, keys, city, consumer="agg-a")
    second = make(r, keys, city, consumer="agg-b")

    def at(minute: int, second_of_minute: int = 0) -> dict[str, str]:
        return speed(camera, T0 + timedelta(minutes=minute, seconds=second_of_minute), 30.0, vehicles=1)

    add(r, keys, "traffic", at(10))
    second.drain()
    add(r, keys, "traffic", at(11, 1))
    first.drain()  # holds minute +11
    add(r, keys, "traffic", at(11, 2))
    second.drain()  # adds to minute +11 behind its back
    add(r, keys, "traffic", at(11, 3))
    add(r, keys, "traffic", at(5))
    first.drain()
    minute_11 = int((T0 + timedelta(minutes=11)).timestamp()) // 60
    assert decode_minute(r.hgetall(keys.speed_minute(minute_11)))[segment] == [300 * 3, 3]
