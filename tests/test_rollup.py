"""The speed roll-up's stored form: read back as written, the earlier two-field form still read, damage skipped."""

from __future__ import annotations

from datetime import timedelta

from ioc.rollup import decode_minute, encode_totals, mean_speed_kmh
from ioc.snapshot import read_speed_series
from tests.test_aggregator import T0, add, make, speed


def test_totals_round_trip_and_give_the_weighted_mean() -> None:
    stored = {"seg-a": encode_totals(2_550, 10), "seg-b": encode_totals(0, 0)}
    assert decode_minute(stored) == {"seg-a": [2_550, 10], "seg-b": [0, 0]}
    assert mean_speed_kmh(2_550, 10) == 25.5 and mean_speed_kmh(0, 0) is None


def test_earlier_form_is_read_and_superseded_by_the_current_one() -> None:
    stored = {"seg-a:s": "1200", "seg-a:w": "4", "seg-b:s": "600", "seg-b:w": "2", "seg-b": "1500 5"}
    assert decode_minute(stored) == {"seg-a": [1_200, 4], "seg-b": [1_500, 5]}


def test_damaged_fields_are_skipped() -> None:
    stored = {"seg-a": "12 x", "seg-b": "oops", "seg-c:w": "many", "seg-d": "300 1"}
    assert decode_minute(stored) == {"seg-d": [300, 1]}


def test_upgrade_keeps_a_minute_stored_in_the_earlier_form(r, keys, city) -> None:
    """A minute written by the earlier aggregator: the new one adds to it, and the chart reads it, no crash."""
    camera = city.sensors_of("traffic_camera")[0]
    segment = camera.segments[0]
    minute = int(T0.timestamp()) // 60
    r.hset(keys.speed_minute(minute), mapping={f"{segment}:s": "1200", f"{segment}:w": "4"})
    r.hset(keys.segments(), segment, '{"speed":30.0,"band":"smooth","congested":false,"ts":null}')
    add(r, keys, "traffic", speed(camera, T0 + timedelta(seconds=30), 40.0, vehicles=6))
    add(r, keys, "traffic", speed(camera, T0 + timedelta(minutes=2), 40.0, vehicles=6))
    assert make(r, keys, city).drain() == 2
    assert r.xlen(keys.deadletter("traffic")) == 0  # a stored state without a time is not an internal error
    assert decode_minute(r.hgetall(keys.speed_minute(minute)))[segment] == [1_200 + 400 * 6, 10]
    series = read_speed_series(r, keys, city, since_minute=None, segment_ids=[segment])
    assert series.segments[segment][series.minutes.index(minute)] == round((1_200 + 2_400) / 10 / 10, 2)
