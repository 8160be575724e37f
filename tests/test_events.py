"""Unit tests of the wire format v1: parsing, clear rejection reasons, and encoding back to fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ioc.errors import InvalidEvent
from ioc.events import (
    DeviceStatusChanged,
    FloodWaterLevelObserved,
    TrafficSpeedObserved,
    encode_event,
    parse_event,
)

ICT = timezone(timedelta(hours=7))
SPEED = {
    "v": "1",
    "type": "traffic.speed.observed",
    "ts": "2026-11-22T07:30:00+07:00",
    "sensor": "cam-01",
    "segment": "seg-pct-01",
    "speed_kmh": "23.5",
    "vehicles": "41",
    "interval_s": "60",
}


def test_parse_speed_event_from_string_fields() -> None:
    event = parse_event(SPEED)
    assert isinstance(event, TrafficSpeedObserved)
    assert event.speed_kmh == 23.5
    assert event.vehicles == 41
    assert event.domain == "traffic"
    assert event.ts == datetime(2026, 11, 22, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"v": None}, "missing field 'v'"),
        ({"v": "2"}, "unsupported schema version"),
        ({"type": None}, "missing field 'type'"),
        ({"type": "traffic.speed.guessed"}, "unknown event type 'traffic.speed.guessed'"),
        ({"speed_kmh": "fast"}, "speed_kmh"),
        ({"speed_kmh": "-3"}, "speed_kmh"),
        ({"vehicles": "2.5"}, "vehicles"),
        ({"ts": "2026-11-22T07:30:00"}, "ts"),  # no offset: ambiguous local time is refused
        ({"ts": "yesterday"}, "ts"),
        ({"segment": None}, "segment"),
        ({"colour": "red"}, "colour"),  # unknown fields are refused so typos surface
        ({"sensor": "cam 01"}, "sensor"),
    ],
)
def test_parse_rejects_with_a_reason_naming_the_problem(change: dict[str, str | None], reason: str) -> None:
    fields = {**SPEED, **change}
    fields = {k: v for k, v in fields.items() if v is not None}
    with pytest.raises(InvalidEvent) as info:
        parse_event(fields)  # type: ignore[arg-type]
    assert reason in str(info.value)


def test_encode_then_parse_round_trips_every_type() -> None:
    at = datetime(2026, 11, 22, 7, 30, 15, tzinfo=ICT)
    level = FloodWaterLevelObserved(v=1, type="flood.water_level.observed", ts=at, sensor="wl-tam-ky", level_m=1.734)
    status = DeviceStatusChanged(v=1, type="device.status.changed", ts=at, sensor="cam-02", status="fault",
                                 detail="lens fogged")  # fmt: skip
    for event in (level, status, parse_event(SPEED)):
        fields = encode_event(event)
        assert all(isinstance(v, str) for v in fields.values())
        assert list(fields)[:3] == ["v", "type", "ts"]
        assert parse_event(fields) == event


def test_encoded_timestamp_keeps_the_offset() -> None:
    at = datetime(2026, 11, 22, 7, 30, tzinfo=ICT)
    event = FloodWaterLevelObserved(v=1, type="flood.water_level.observed", ts=at, sensor="wl-tam-ky", level_m=1.2)
    assert encode_event(event)["ts"] == "2026-11-22T07:30:00+07:00"
    assert encode_event(event)["level_m"] == "1.2"
