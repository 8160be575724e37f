"""Any entry a producer can append, written as raw bytes, is a reading or a dead letter with a reason: never a
stopped or stalled aggregator, never a lost or double-counted event. Against real Redis servers (both versions)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.events import (
    DEADLETTER_FIELDS_MAX_CHARS,
    MAX_FIELDS,
    DeviceStatusChanged,
    FloodRainObserved,
    FloodWaterLevelObserved,
    TrafficSpeedObserved,
    WifiUsageObserved,
    encode_event,
)
from ioc.keys import AGGREGATOR_GROUP, DOMAINS, Keys
from ioc.snapshot import read_wall_snapshot

Flat = list[bytes]


def raw_client(url: str) -> redis.Redis:
    """A client that sends and receives bytes as they are, as any producer may."""
    return redis.Redis.from_url(url, decode_responses=False)


def xadd_raw(client: redis.Redis, key: str, flat: Flat) -> str:
    """XADD an entry's fields exactly as given (names may repeat), returning its id."""
    return str(client.execute_command("XADD", key, "*", *flat).decode())


# Characters ioc.inputs' rule allows in one line of text: no control, surrogate, bidi control or noncharacter.
RULED_TEXT = st.characters(
    exclude_categories=("Cc", "Cs"),
    exclude_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
).filter(lambda c: not ("\ufdd0" <= c <= "\ufdef" or (ord(c) & 0xFFFE) == 0xFFFE))
BREAKS_THE_RULE = ["\x00", "\x07", "\x1b[2J", "\x85", "\u202e", "\u2066", "\ufffe", "\U0010ffff", "\n"]


def good_events(city: City) -> st.SearchStrategy[tuple[str, Flat]]:
    """Valid events of the city's sensors, dated now, as (domain, wire fields in bytes)."""
    cameras = city.sensors_of("traffic_camera")
    stations = city.sensors_of("water_station")
    gauges = city.sensors_of("rain_gauge")
    hotspots = city.sensors_of("wifi_hotspot")
    every = list(city.sensors.values())

    def now() -> datetime:
        return datetime.now(UTC)

    speed = st.builds(
        lambda camera, kmh, vehicles: (
            "traffic",
            TrafficSpeedObserved(
                v=1,
                type="traffic.speed.observed",
                ts=now(),
                sensor=camera.id,
                segment=camera.segments[0],
                speed_kmh=kmh,
                vehicles=vehicles,
                interval_s=60,
            ),
        ),
        st.sampled_from(cameras),
        st.floats(0, 250),
        st.integers(0, 100_000),
    )
    level = st.builds(
        lambda station, metres: (
            "flood",
            FloodWaterLevelObserved(
                v=1, type="flood.water_level.observed", ts=now(), sensor=station.id, level_m=metres
            ),
        ),
        st.sampled_from(stations),
        st.floats(-10, 50),
    )
    rain = st.builds(
        lambda gauge, mm: (
            "flood",
            FloodRainObserved(v=1, type="flood.rain.observed", ts=now(), sensor=gauge.id, rain_mm=mm, interval_s=300),
        ),
        st.sampled_from(gauges),
        st.floats(0, 500),
    )
    wifi = st.builds(
        lambda hotspot, clients: (
            "wifi",
            WifiUsageObserved(v=1, type="wifi.usage.observed", ts=now(), sensor=hotspot.id, clients=clients, mbps=1.5),
        ),
        st.sampled_from(hotspots),
        st.integers(0, 100_000),
    )
    status = st.builds(
        lambda sensor, detail: (
            "device",
            DeviceStatusChanged(
                v=1, type="device.status.changed", ts=now(), sensor=sensor.id, status="fault", detail=detail
            ),
        ),
        st.sampled_from(every),
        st.text(alphabet=RULED_TEXT, max_size=50).map(str.strip),
    )
    return st.one_of(speed, level, rain, wifi, status).map(
        lambda pair: (pair[0], [part.encode() for item in encode_event(pair[1]).items() for part in item])
    )


NOT_UTF8 = st.binary(min_size=1, max_size=20).map(lambda b: b + b"\xff" + b)  # 0xFF never occurs in UTF-8
ANY_BYTES = st.one_of(
    st.binary(max_size=40),
    NOT_UTF8,
    st.just(b""),
    st.just(b"x" * 200_000),
    st.just(b"\x00" * 60_000),
    st.sampled_from([b"NaN", b"inf", b"-Infinity", b"1e999", b"\x00", "mực nước".encode()]),
)


def _set(flat: Flat, index: int, value: bytes) -> Flat:
    copy = list(flat)
    copy[index] = value
    return copy


def bad_entries(city: City) -> st.SearchStrategy[tuple[str, Flat]]:
    """Entries that can never be a valid event, each broken in one way a producer or an attacker might."""
    domains = st.sampled_from(DOMAINS)
    names = ANY_BYTES.filter(lambda name: name != b"v")  # without a version field nothing is an event
    random_entry = st.tuples(
        domains,
        st.lists(st.tuples(names, ANY_BYTES), min_size=1, max_size=8).map(
            lambda pairs: [part for pair in pairs for part in pair]
        ),
    )
    good = good_events(city)
    # A valid event with one value (never the whitespace-tolerant tail of one) made bytes that are not UTF-8.
    broken_value = st.tuples(good, st.data()).map(
        lambda t: (
            t[0][0],
            _set(t[0][1], 2 * t[1].draw(st.integers(0, len(t[0][1]) // 2 - 1)) + 1, t[1].draw(NOT_UTF8)),
        )
    )
    broken_name = st.tuples(good, st.data()).map(
        lambda t: (t[0][0], _set(t[0][1], 2 * t[1].draw(st.integers(0, len(t[0][1]) // 2 - 1)), t[1].draw(NOT_UTF8)))
    )
    repeated = st.tuples(good, st.data()).map(lambda t: (t[0][0], [*t[0][1], *t[0][1][:2]]))
    crowded = good.map(lambda pair: (pair[0], pair[1] + [b"f%d" % n for n in range(2 * MAX_FIELDS + 2)]))
    thousands = domains.map(lambda domain: (domain, [b"f%d" % (n // 2) for n in range(6_000)]))
    empty_pairs = domains.map(lambda domain: (domain, [b""] * 40_000))  # 20,000 fields, all named ""
    huge = st.tuples(good, st.data()).map(
        lambda t: (t[0][0], _set(t[0][1], 2 * t[1].draw(st.integers(0, len(t[0][1]) // 2 - 1)) + 1, b"9" * 300_000))
    )
    odd_numbers = st.tuples(good, st.sampled_from([b"NaN", b"inf", b"-inf", b"nan", b""])).map(
        lambda t: (t[0][0], _number_replaced(t[0][1], t[1]))
    )
    future = good.map(lambda pair: (pair[0], _ts_replaced(pair[1], b"2099-01-01T00:00:00+07:00")))
    bad_text = st.tuples(st.sampled_from(list(city.sensors.values())), st.sampled_from(BREAKS_THE_RULE)).map(
        lambda t: (
            "device",
            [
                b"v",
                b"1",
                b"type",
                b"device.status.changed",
                b"ts",
                datetime.now(UTC).isoformat().encode(),
                b"sensor",
                t[0].id.encode(),
                b"status",
                b"fault",
                b"detail",
                f"lens{t[1]}fogged".encode(),
            ],
        )
    )
    ancient = good.map(lambda pair: (pair[0], _ts_replaced(pair[1], b"1970-01-02T00:00:00Z")))
    return st.one_of(
        random_entry,
        broken_value,
        broken_name,
        repeated,
        crowded,
        thousands,
        empty_pairs,
        huge,
        odd_numbers,
        future,
        ancient,
        bad_text,
    )


def _ts_replaced(flat: Flat, ts: bytes) -> Flat:
    return _set(flat, flat.index(b"ts") + 1, ts)


def _number_replaced(flat: Flat, value: bytes) -> Flat:
    """The event with its first number field set to value (every event type has one); none has a bare float name
    shared with a text field, so the event stays invalid."""
    for name in (b"speed_kmh", b"level_m", b"rain_mm", b"clients"):
        if name in flat[::2]:
            return _set(flat, flat.index(name) + 1, value)
    return _set(flat, flat.index(b"status") + 1, value)  # device status: "" or "NaN" is no status


@pytest.fixture
def running(r: redis.Redis, keys: Keys, city: City) -> Iterator[tuple[Aggregator, threading.Thread]]:
    """The aggregator running in the background as in production (real time: no declared clock)."""
    agg = Aggregator(r, keys, city, consumer="fuzz", batch_size=50)
    agg.setup()
    stop = threading.Event()
    worker = threading.Thread(target=agg.run_forever, args=(stop,), kwargs={"idle_wait_s": 0.02}, daemon=True)
    worker.start()
    yield agg, worker
    stop.set()
    worker.join(timeout=10)


def _counts(r: redis.Redis, keys: Keys) -> tuple[int, int]:
    processed = deadletter = 0
    for domain in DOMAINS:
        stats = r.hgetall(keys.stats(domain))
        processed += int(stats.get("processed", 0))
        deadletter += int(stats.get("deadletter", 0))
    return processed, deadletter


def _wait_for(r: redis.Redis, keys: Keys, total: int, worker: threading.Thread, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while sum(_counts(r, keys)) < total:
        assert worker.is_alive(), "the aggregator stopped"
        assert time.monotonic() < deadline, f"the aggregator stalled at {_counts(r, keys)} of {total} entries"
        time.sleep(0.01)


def test_any_entry_is_a_reading_or_a_dead_letter(
    redis_url: str, r: redis.Redis, keys: Keys, city: City, running, caplog: pytest.LogCaptureFixture
) -> None:
    """Byte-level fuzz: random good and bad entries written raw; every bad one is a dead letter with a reason and
    its original fields, every good one is counted exactly once, and the aggregator keeps running."""
    _, worker = running
    writer = raw_client(redis_url)
    expected_bad: dict[tuple[str, str], Flat] = {}  # (stream, entry id) -> fields as written
    good_ids: set[tuple[str, str]] = set()
    total = 0

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(st.tuples(st.booleans(), good_events(city), bad_entries(city)), min_size=1, max_size=12))
    def append_and_check(mix: list[tuple[bool, tuple[str, Flat], tuple[str, Flat]]]) -> None:
        nonlocal total
        for is_good, (good_domain, good_flat), (bad_domain, bad_flat) in mix:
            if is_good:
                stream = keys.events(good_domain)  # type: ignore[arg-type]
                good_ids.add((stream, xadd_raw(writer, stream, good_flat)))
            else:
                stream = keys.events(bad_domain)  # type: ignore[arg-type]
                expected_bad[(stream, xadd_raw(writer, stream, bad_flat))] = bad_flat
            total += 1
        _wait_for(r, keys, total, worker)
        assert _counts(r, keys) == (len(good_ids), len(expected_bad))

    with caplog.at_level(logging.ERROR, logger="ioc.aggregator"):
        append_and_check()
    writer.close()

    assert worker.is_alive()
    letters = {}
    for domain in DOMAINS:
        for _, letter in r.xrange(keys.deadletter(domain)):
            letters[(letter["stream"], letter["entry_id"])] = letter
    assert set(letters) == set(expected_bad), "dead letters are exactly the bad entries"
    for entry_id, flat in expected_bad.items():
        letter = letters[entry_id]
        assert letter["reason"] and len(letter["reason"]) <= 1_000
        assert len(letter["fields"]) <= DEADLETTER_FIELDS_MAX_CHARS, "one producer cannot fill Redis through these"
        copy = json.loads(letter["fields"])
        pairs = [tuple(p) for p in copy] if isinstance(copy, list) else list(copy.items())
        original = [
            (name.decode(errors="backslashreplace"), value.decode(errors="backslashreplace"))
            for name, value in zip(flat[::2], flat[1::2], strict=True)
        ]
        if "truncated" in letter.get("note", ""):
            assert pairs and pairs[0][0] == original[0][0][: len(pairs[0][0])]
        else:
            assert pairs == original, f"the dead letter keeps the fields as sent ({letter['reason']})"
    for domain in DOMAINS:
        assert r.xpending(keys.events(domain), AGGREGATOR_GROUP)["pending"] == 0
    assert not [rec for rec in caplog.records if "internal error" in rec.getMessage()]


def test_reasons_name_what_is_wrong(redis_url: str, r: redis.Redis, keys: Keys, city: City, running) -> None:
    """The reasons an integrator reads, for the failures seen in the field."""
    _, worker = running
    writer = raw_client(redis_url)
    station = city.sensors_of("water_station")[0]
    now = datetime.now(UTC)
    level = [
        part.encode()
        for item in encode_event(
            FloodWaterLevelObserved(v=1, type="flood.water_level.observed", ts=now, sensor=station.id, level_m=1.0)
        ).items()
        for part in item
    ]
    cases = {
        "not valid UTF-8": _set(level, level.index(b"sensor") + 1, b"wl-\xff\xfe"),
        "appears 2 times": [*level, b"level_m", b"2.0"],
        "not a finite number": _set(level, level.index(b"level_m") + 1, b"NaN"),
        "fields; an event has at most": level + [b"x%d" % n for n in range(3_000)],
        "ahead of receive time": _ts_replaced(level, b"2099-01-01T00:00:00+07:00"),
        "behind receive time": _ts_replaced(level, (now - timedelta(days=3)).isoformat().encode()),
    }
    ids = {xadd_raw(writer, keys.events("flood"), flat): expected for expected, flat in cases.items()}
    writer.close()
    _wait_for(r, keys, len(cases), worker)
    reasons = {letter["entry_id"]: letter["reason"] for _, letter in r.xrange(keys.deadletter("flood"))}
    for entry_id, expected in ids.items():
        assert expected in reasons[entry_id], (expected, reasons[entry_id])
    years = next(reasons[i] for i, e in ids.items() if e == "ahead of receive time")
    assert "72 years ahead" in years  # 2099 seen from December 2026
    escaped = next(letter for _, letter in r.xrange(keys.deadletter("flood")) if "UTF-8" in letter["reason"])
    assert json.loads(escaped["fields"])["sensor"] == "wl-\\xff\\xfe" and "\\xNN" in escaped["note"]


def test_a_wrong_clock_moves_nothing(redis_url: str, r: redis.Redis, keys: Keys, city: City, running) -> None:
    """A reading dated 2099 is a dead letter: the city clock stays, the station's next true reading is applied,
    and no other device is marked offline."""
    _, worker = running
    station = city.sensors_of("water_station")[0]
    cameras = city.sensors_of("traffic_camera")[:3]
    now = datetime.now(UTC)

    def level(at: datetime, metres: float) -> dict[str, str]:
        return encode_event(
            FloodWaterLevelObserved(v=1, type="flood.water_level.observed", ts=at, sensor=station.id, level_m=metres)
        )

    for camera in cameras:
        r.xadd(
            keys.events("traffic"),
            encode_event(
                TrafficSpeedObserved(
                    v=1,
                    type="traffic.speed.observed",
                    ts=now,
                    sensor=camera.id,
                    segment=camera.segments[0],
                    speed_kmh=30,
                    vehicles=5,
                    interval_s=60,
                )
            ),
        )
    r.xadd(keys.events("flood"), level(datetime(2099, 1, 1, tzinfo=UTC), 3.5))
    r.xadd(keys.events("flood"), level(now + timedelta(seconds=1), 1.2))
    _wait_for(r, keys, len(cameras) + 2, worker)

    assert float(r.hget(keys.stats("flood"), "clock") or 0) == pytest.approx(now.timestamp() + 1, abs=0.01)
    state = json.loads(r.hget(keys.stations(), station.id) or "{}")
    assert state["level_m"] == 1.2 and state["alarm"] == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        snapshot = read_wall_snapshot(r, keys, city, stale_after_s=30)
        if all(snapshot.health.get(c.id) == "online" for c in cameras):
            break
        time.sleep(0.05)
    snapshot = read_wall_snapshot(r, keys, city, stale_after_s=30)
    assert all(snapshot.health.get(c.id) == "online" for c in cameras), snapshot.health
    assert r.xlen(keys.deadletter("flood")) == 1


def test_a_stream_key_of_the_wrong_type_is_moved_aside(
    r: redis.Redis, keys: Keys, city: City, running, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone SETs a raw stream key: the other domains flow on, the key is moved aside with an error in the log,
    and events on that domain flow again."""
    _, worker = running
    hotspot = city.sensors_of("wifi_hotspot")[0]
    station = city.sensors_of("water_station")[0]

    def usage() -> dict[str, str]:
        return encode_event(
            WifiUsageObserved(
                v=1, type="wifi.usage.observed", ts=datetime.now(UTC), sensor=hotspot.id, clients=3, mbps=1.0
            )
        )

    with caplog.at_level(logging.ERROR, logger="ioc.aggregator"):
        r.delete(keys.events("wifi"))
        r.set(keys.events("wifi"), "oops")
        r.xadd(
            keys.events("flood"),
            encode_event(
                FloodWaterLevelObserved(
                    v=1, type="flood.water_level.observed", ts=datetime.now(UTC), sensor=station.id, level_m=1.0
                )
            ),
        )
        _wait_for(r, keys, 1, worker)
        deadline = time.monotonic() + 10
        while r.type(keys.events("wifi")) != "stream":
            assert time.monotonic() < deadline and worker.is_alive()
            time.sleep(0.02)
        r.xadd(keys.events("wifi"), usage())
        _wait_for(r, keys, 2, worker)
    assert worker.is_alive()
    aside = [key for key in r.scan_iter(match=keys.events("wifi") + ":quarantined:*")]
    assert len(aside) == 1 and r.get(aside[0]) == "oops"
    assert any("not a stream" in rec.getMessage() for rec in caplog.records)


def test_free_text_with_undecodable_bytes_is_rejected(redis_url: str, r: redis.Redis, keys: Keys, running) -> None:
    """A device's detail is the one free-text field: bytes that are not UTF-8 there are a dead letter too, never
    state that could not be written back."""
    _, worker = running
    writer = raw_client(redis_url)
    status = [
        part.encode()
        for item in encode_event(
            DeviceStatusChanged(
                v=1,
                type="device.status.changed",
                ts=datetime.now(UTC),
                sensor="cam-01",
                status="fault",
                detail="ống kính mờ",
            )
        ).items()
        for part in item
    ]
    xadd_raw(writer, keys.events("device"), status)  # valid UTF-8 (Vietnamese): accepted
    xadd_raw(writer, keys.events("device"), _set(status, status.index(b"detail") + 1, "mờ".encode() + b"\xff"))
    writer.close()
    _wait_for(r, keys, 2, worker)
    assert r.hget(keys.stats("device"), "processed") == "1"
    ((_, letter),) = r.xrange(keys.deadletter("device"))
    assert "value of field 'detail'" in letter["reason"] and "not valid UTF-8" in letter["reason"]
    assert json.loads(letter["fields"])["detail"] == "mờ\\xff"


def test_a_damaged_state_record_is_skipped_not_fatal(
    r: redis.Redis, keys: Keys, city: City, running, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone breaks stored state by hand: a document that is not JSON, a last-seen time that is not a number, a
    state key of another type, counters that are not numbers. The aggregator reads around a damaged document,
    moves a broken key aside (logged), and goes on applying every reading exactly once, never half a batch."""
    _, worker = running
    station, other = city.sensors_of("water_station")[:2]
    camera = city.sensors_of("traffic_camera")[0]
    r.hset(keys.stations(), mapping={station.id: "{not json", other.id: "[1, 2]"})
    r.hset(keys.lastseen("flood"), mapping={station.id: "yesterday"})
    r.hset(keys.stats("flood"), "version", "someone-else")
    r.delete(keys.segments())
    r.set(keys.segments(), "oops")  # a state hash replaced by a string
    r.hset(keys.stats("traffic"), "processed", "many")  # a counter that is not a number
    snapshot = read_wall_snapshot(r, keys, city, stale_after_s=30)
    assert station.id not in snapshot.stations and other.id not in snapshot.stations

    def level(metres: float) -> dict[str, str]:
        return encode_event(
            FloodWaterLevelObserved(
                v=1, type="flood.water_level.observed", ts=datetime.now(UTC), sensor=station.id, level_m=metres
            )
        )

    def speed(kmh: float) -> dict[str, str]:
        return encode_event(
            TrafficSpeedObserved(
                v=1,
                type="traffic.speed.observed",
                ts=datetime.now(UTC),
                sensor=camera.id,
                segment=camera.segments[0],
                speed_kmh=kmh,
                vehicles=3,
                interval_s=60,
            )
        )

    with caplog.at_level(logging.ERROR, logger="ioc.aggregator"):
        r.xadd(keys.events("flood"), level(1.1))
        r.xadd(keys.events("traffic"), speed(31.0))
        deadline = time.monotonic() + 20
        while r.hget(keys.stats("traffic"), "processed") != "1" or r.hget(keys.stats("flood"), "processed") != "1":
            assert time.monotonic() < deadline and worker.is_alive(), r.hgetall(keys.stats("traffic"))
            time.sleep(0.02)
        r.xadd(keys.events("flood"), level(1.2))
        r.xadd(keys.events("traffic"), speed(12.0))
        _wait_for(r, keys, 4, worker)
    assert worker.is_alive()
    assert json.loads(r.hget(keys.stations(), station.id) or "{}")["level_m"] == 1.2
    assert json.loads(r.hget(keys.segments(), camera.segments[0]) or "{}")["speed"] == 12.0
    assert r.hget(keys.stats("traffic"), "processed") == "2"  # counted once each, from a fresh count
    aside = {key.split(":quarantined:")[0] for key in r.scan_iter(match=keys.all_keys_pattern() + "quarantined*")}
    assert aside == {keys.segments(), keys.stats("traffic"), keys.stats("flood")}
    assert r.get(next(r.scan_iter(match=keys.segments() + ":quarantined:*"))) == "oops"  # kept for a person
    assert sum("moved aside" in rec.getMessage() for rec in caplog.records) == 3
