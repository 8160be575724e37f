"""Integration tests of the aggregator against real Redis servers: state, alerts, dead letters, recovery."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import redis

from ioc.aggregator import Aggregator
from ioc.city import City, Sensor
from ioc.clock import declare_replay
from ioc.events import (
    DeviceStatusChanged,
    FloodWaterLevelObserved,
    TrafficSpeedObserved,
    WifiUsageObserved,
    encode_event,
)
from ioc.keys import AGGREGATOR_GROUP, DOMAINS, Keys
from ioc.rollup import decode_minute
from ioc.rules import FloodHysteresis
from ioc.snapshot import read_speed_series, read_wall_snapshot

ICT = timezone(timedelta(hours=7))
T0 = datetime(2026, 11, 22, 7, 0, tzinfo=ICT)


def speed(camera: Sensor, at: datetime, kmh: float, vehicles: int = 30, segment: str | None = None) -> dict[str, str]:
    """Wire fields of a speed observation."""
    return encode_event(
        TrafficSpeedObserved(
            v=1,
            type="traffic.speed.observed",
            ts=at,
            sensor=camera.id,
            segment=segment or camera.segments[0],
            speed_kmh=kmh,
            vehicles=vehicles,
            interval_s=60,
        )
    )


def level(station: str, at: datetime, metres: float) -> dict[str, str]:
    """Wire fields of a water level observation."""
    return encode_event(
        FloodWaterLevelObserved(v=1, type="flood.water_level.observed", ts=at, sensor=station, level_m=metres)
    )


def add(r: redis.Redis, keys: Keys, domain: str, fields: dict[str, str]) -> str:
    """Append one entry to a raw stream, as a producer would."""
    return str(r.xadd(keys.events(domain), fields))  # type: ignore[arg-type]


def make(r: redis.Redis, keys: Keys, city: City, *, clock: datetime = T0, **kwargs: object) -> Aggregator:
    """An aggregator with its group created, on a namespace that replays events from `clock` (the tests' days are
    in the past: under real time their events would be rejected as too old)."""
    declare_replay(r, keys, start=clock.timestamp(), source="tests")
    agg = Aggregator(r, keys, city, consumer=str(kwargs.pop("consumer", "agg-test")), **kwargs)  # type: ignore[arg-type]
    agg.setup()
    return agg


def test_speed_events_become_segment_state_rollups_and_congestion_alerts(r, keys, city) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    segment = city.segments[camera.segments[0]]
    agg = make(r, keys, city)
    for minute, kmh in enumerate([32.0, 12.0, 13.0, 17.0, 30.0]):
        add(r, keys, "traffic", speed(camera, T0 + timedelta(minutes=minute), kmh, vehicles=10 + minute))
    assert agg.drain() == 5

    state = json.loads(str(r.hget(keys.segments(), segment.id)))
    assert state["speed"] == 30.0 and state["band"] == "smooth" and state["congested"] is False
    alerts = r.xrange(keys.alerts("traffic"))
    # Congested at 12 km/h; 13 and 17 stay congested (hysteresis margin 3); clear at 30.
    assert [(a["old"], a["new"]) for _, a in alerts] == [("flowing", "congested"), ("congested", "flowing")]
    assert r.hlen(keys.active("traffic")) == 0
    minute0 = int(T0.timestamp()) // 60
    bucket = r.hgetall(keys.speed_minute(minute0 + 1))
    assert decode_minute(bucket)[segment.id] == [120 * 11, 11]
    assert r.ttl(keys.speed_minute(minute0)) > 0
    assert r.hget(keys.stats("traffic"), "processed") == "5"
    assert float(str(r.hget(keys.stats("traffic"), "clock"))) == (T0 + timedelta(minutes=4)).timestamp()
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 0

    series = read_speed_series(r, keys, city, since_minute=None, window_minutes=10, segment_ids=[segment.id])
    assert series.minutes == [minute0 + i for i in range(-6, 4)]  # completed minutes only: the 5th is current
    assert series.segments[segment.id][-4:] == [32.0, 12.0, 13.0, 17.0]
    assert series.city_avg[-4:] == [32.0, 12.0, 13.0, 17.0]
    newer = read_speed_series(r, keys, city, since_minute=minute0 + 2, segment_ids=[segment.id])
    assert newer.minutes == [minute0 + 3]


def test_bad_events_go_to_the_dead_letter_stream_with_reason_and_fields(r, keys, city) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    station = city.sensors["wl-tam-ky"]
    other_segment = next(s for s in city.segments if s not in camera.segments)
    agg = make(r, keys, city)
    good = speed(camera, T0, 30.0)
    bad = [
        ("traffic", {**good, "speed_kmh": "fast"}, "speed_kmh"),
        ("traffic", {**good, "type": "traffic.speed.guessed"}, "unknown event type"),
        ("traffic", {**good, "sensor": "cam-does-not-exist"}, "unknown sensor 'cam-does-not-exist'"),
        ("traffic", {**good, "segment": other_segment}, "does not observe segment"),
        ("traffic", level(station.id, T0, 1.0), "belongs on the flood stream"),
        ("traffic", {k: v for k, v in good.items() if k != "v"}, "missing field 'v'"),
        (
            "flood",
            {**level(station.id, T0, 1.0), "sensor": camera.id},
            "is a traffic_camera; flood.water_level.observed comes from a water_station",
        ),
    ]
    add(r, keys, "traffic", good)
    ids = [add(r, keys, domain, fields) for domain, fields, _ in bad]
    add(r, keys, "traffic", speed(camera, T0 + timedelta(minutes=1), 31.0))
    assert agg.drain() == len(bad) + 2

    dead = r.xrange(keys.deadletter("traffic")) + r.xrange(keys.deadletter("flood"))
    assert len(dead) == len(bad)
    for (_, fields), (_, original, reason), entry_id in zip(dead, bad, ids, strict=True):
        assert reason in fields["reason"]
        assert json.loads(fields["fields"]) == original
        assert fields["entry_id"] == entry_id
    assert r.hget(keys.stats("traffic"), "processed") == "2"  # the good events around the bad ones still count
    assert int(str(r.hget(keys.stats("traffic"), "deadletter"))) == len(bad) - 1
    snapshot = read_wall_snapshot(r, keys, city, stale_after_s=60)
    assert snapshot.kpis.deadletters == len(bad)


def test_flood_levels_raise_alerts_with_hysteresis_and_bd3_is_critical(r, keys, city) -> None:
    agg = make(r, keys, city, hysteresis=FloodHysteresis(margin_m=0.1, hold_s=1800))
    readings = [1.0, 1.75, 2.3, 2.8, 2.75, 2.62, 2.55, 2.55, 2.55, 2.1]  # every 10 minutes
    for index, metres in enumerate(readings):
        add(r, keys, "flood", level("wl-tam-ky", T0 + timedelta(minutes=10 * index), metres))
    agg.drain()
    changes = [(a["old"], a["new"], a["severity"]) for _, a in r.xrange(keys.alerts("flood"))]
    # Rises at once; 2.62 is within the margin below BĐ III; 2.55 from minute 60 holds 30 minutes → II at 90.
    assert changes == [("0", "1", "warning"), ("1", "2", "warning"), ("2", "3", "critical"), ("3", "2", "info")]
    state = json.loads(str(r.hget(keys.stations(), "wl-tam-ky")))
    assert state["alarm"] == 2 and state["level_m"] == 2.1
    snapshot = read_wall_snapshot(r, keys, city, stale_after_s=60)
    assert snapshot.kpis.highest_flood_alarm == 2 and snapshot.kpis.highest_flood_station == "wl-tam-ky"
    assert snapshot.critical_alerts == []

    add(r, keys, "flood", level("wl-tam-ky", T0 + timedelta(minutes=100), 2.9))
    agg.drain()
    snapshot = read_wall_snapshot(r, keys, city, stale_after_s=60)
    assert [a.place for a in snapshot.critical_alerts] == ["wl-tam-ky"]
    assert snapshot.recent_alerts[0].new == "3" and snapshot.recent_alerts[0].severity == "critical"


def test_late_readings_do_not_move_live_state_back(r, keys, city) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    agg = make(r, keys, city)
    add(r, keys, "traffic", speed(camera, T0 + timedelta(minutes=5), 40.0))
    add(r, keys, "traffic", speed(camera, T0, 5.0))
    agg.drain()
    state = json.loads(str(r.hget(keys.segments(), camera.segments[0])))
    assert state["speed"] == 40.0
    assert r.xlen(keys.alerts("traffic")) == 0
    assert float(str(r.hget(keys.stats("traffic"), "clock"))) == (T0 + timedelta(minutes=5)).timestamp()


def test_device_goes_offline_after_missed_reports_and_comes_back(r, keys, city) -> None:
    hotspots = city.sensors_of("wifi_hotspot")[:2]
    quiet, busy = hotspots
    interval = quiet.report_interval_s
    agg = make(r, keys, city)

    def usage(sensor: Sensor, at: datetime) -> dict[str, str]:
        return encode_event(
            WifiUsageObserved(v=1, type="wifi.usage.observed", ts=at, sensor=sensor.id, clients=12, mbps=3.5)
        )

    add(r, keys, "wifi", usage(quiet, T0))
    add(r, keys, "wifi", usage(busy, T0))
    agg.drain()
    assert json.loads(str(r.hget(keys.health(), quiet.id)))["status"] == "online"
    # busy keeps reporting for 4 intervals while quiet says nothing: quiet misses 3 reports → offline.
    for step in range(1, 5):
        add(r, keys, "wifi", usage(busy, T0 + timedelta(seconds=step * interval)))
    agg.drain()
    health = json.loads(str(r.hget(keys.health(), quiet.id)))
    assert health["status"] == "offline" and health["reason"] == "missed-reports"
    assert json.loads(str(r.hget(keys.health(), busy.id)))["status"] == "online"
    add(r, keys, "wifi", usage(quiet, T0 + timedelta(seconds=5 * interval)))
    agg.drain()
    assert json.loads(str(r.hget(keys.health(), quiet.id)))["status"] == "online"
    changes = [(a["place"], a["old"], a["new"]) for _, a in r.xrange(keys.alerts("device"))]
    assert changes == [(quiet.id, "online", "offline"), (quiet.id, "offline", "online")]
    assert r.hlen(keys.active("device")) == 0


def test_reported_device_fault_is_shown_until_reported_online(r, keys, city) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    agg = make(r, keys, city)

    def status(value: str, at: datetime) -> dict[str, str]:
        return encode_event(
            DeviceStatusChanged(
                v=1,
                type="device.status.changed",
                ts=at,
                sensor=camera.id,
                status=value,  # type: ignore[arg-type]
                detail="lens fogged" if value == "fault" else "",
            )
        )

    add(r, keys, "traffic", speed(camera, T0, 30.0))
    add(r, keys, "device", status("fault", T0 + timedelta(seconds=30)))
    agg.drain()
    snapshot = read_wall_snapshot(r, keys, city, stale_after_s=60)
    assert snapshot.health[camera.id] == "fault"
    assert r.hexists(keys.active("device"), f"device:{camera.id}")
    add(r, keys, "device", status("online", T0 + timedelta(seconds=90)))
    agg.drain()
    assert read_wall_snapshot(r, keys, city, stale_after_s=60).health[camera.id] == "online"
    assert not r.hexists(keys.active("device"), f"device:{camera.id}")


def test_crash_after_read_before_commit_loses_and_double_counts_nothing(r, keys, city) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    for minute in range(20):
        add(r, keys, "traffic", speed(camera, T0 + timedelta(minutes=minute), 30.0, vehicles=7))
    first = make(r, keys, city, batch_size=8)
    assert first.run_once() == 8  # one batch
    first.flush()  # ... committed
    # Everything else is read (the next round's read was already sent ahead; this reads the rest), so it is
    # delivered and pending, and then the process "dies" before committing any of it.
    first.read_entries("traffic", ">")
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 12

    restarted = make(r, keys, city, batch_size=8)  # same consumer name, as after a restart
    assert restarted.drain() == 12
    assert r.hget(keys.stats("traffic"), "processed") == "20"
    weights = 0.0
    for minute in range(20):
        bucket = r.hgetall(keys.speed_minute(int((T0 + timedelta(minutes=minute)).timestamp()) // 60))
        weights += decode_minute(bucket)[camera.segments[0]][1]
    assert weights == 20 * 7
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 0


def test_entries_of_a_dead_consumer_are_claimed_by_another(r, keys, city) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    for minute in range(6):
        add(r, keys, "traffic", speed(camera, T0 + timedelta(minutes=minute), 30.0))
    dead = make(r, keys, city, consumer="agg-dead", batch_size=6)
    assert len(dead.read_entries("traffic", ">")) == 6  # read, then the host died for good
    survivor = make(r, keys, city, consumer="agg-survivor", claim_idle_ms=0)
    assert survivor.run_once() == 0  # nothing new
    assert survivor.claim_stuck() == 6
    assert r.hget(keys.stats("traffic"), "processed") == "6"
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 0


def test_setup_is_idempotent_and_streams_exist(r, keys, city) -> None:
    agg = make(r, keys, city)
    agg.setup()
    for domain in DOMAINS:
        groups = r.xinfo_groups(keys.events(domain))
        assert [g["name"] for g in groups] == [AGGREGATOR_GROUP]


def test_snapshot_is_stale_without_heartbeat_and_when_redis_is_unreachable(r, keys, city) -> None:
    snapshot = read_wall_snapshot(r, keys, city, stale_after_s=30)
    assert snapshot.stale and snapshot.stale_reason == "no-data"
    r.hset(keys.heartbeat(), mapping={"event": "1000.0", "loop": "1000.0"})
    assert not read_wall_snapshot(r, keys, city, stale_after_s=30, now=1010.0).stale
    assert read_wall_snapshot(r, keys, city, stale_after_s=30, now=1031.0).stale_reason == "no-data"
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, decode_responses=True)
    snapshot = read_wall_snapshot(unreachable, keys, city, stale_after_s=30)
    assert snapshot.stale and snapshot.stale_reason == "redis" and snapshot.kpis.sensors_total == len(city.sensors)


def test_rollups_of_a_replayed_past_date_survive_for_the_chart(r, keys, city) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    past = datetime(2024, 10, 15, 8, 0, tzinfo=ICT)  # a training replay of a flood day two years ago
    agg = make(r, keys, city, clock=past)
    for minute in range(3):
        add(r, keys, "traffic", speed(camera, past + timedelta(minutes=minute), 20.0))
    agg.drain()
    key = keys.speed_minute(int(past.timestamp()) // 60)
    assert 7000 < r.ttl(key) <= 7200
    series = read_speed_series(r, keys, city, since_minute=None, window_minutes=5, segment_ids=[camera.segments[0]])
    assert series.segments[camera.segments[0]][-2:] == [20.0, 20.0]


def test_raw_history_is_trimmed_by_time_never_past_what_a_group_still_needs(r, keys, city) -> None:
    agg = make(r, keys, city, retention_s=3600)
    stream, now = keys.events("flood"), time.time()
    old_ms, recent_ms = int((now - 3 * 3600) * 1000), int((now - 600) * 1000)
    for number in range(400):  # several of Redis' stream nodes (100 entries each): approximate trimming frees them
        r.xadd(stream, {"junk": str(number)}, id=f"{old_ms + number}-0")
    for number in range(50):
        r.xadd(stream, {"junk": str(number)}, id=f"{recent_ms + number}-0")
    assert agg.trim_history(now)["flood"] == 0  # nothing delivered yet: the aggregator has not seen them
    r.xgroup_create(stream, "other", id="0")
    r.xreadgroup("other", "someone", {stream: ">"}, count=150)  # another group holds 150 old ones pending
    agg.drain()  # the aggregator processes everything (junk: dead letters, each with its reason)
    assert agg.trim_history(now)["flood"] == 0  # the other group's oldest pending entry holds the history
    r.xack(stream, "other", *[entry_id for entry_id, _ in r.xrange(stream, count=150)])
    r.xreadgroup("other", "someone", {stream: ">"})
    r.xack(stream, "other", *[entry_id for entry_id, _ in r.xrange(stream)])
    removed = agg.trim_history(now)["flood"]
    left = r.xrange(stream)
    assert 300 <= removed <= 400 and len(left) == 450 - removed  # whole nodes of old entries only
    assert sum(1 for entry_id, _ in left if int(entry_id.split("-")[0]) >= recent_ms) == 50  # recent ones all stay
    assert r.xlen(keys.deadletter("flood")) == 450
