"""Unit tests of the wire format v1: parsing, clear rejection reasons, and encoding back to fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc.errors import InvalidEvent
from ioc.events import (
    DeviceStatusChanged,
    FloodWaterLevelObserved,
    TrafficSpeedObserved,
    decode_event,
    decode_events,
    encode_event,
    parse_event,
    reading_of,
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
    status = DeviceStatusChanged(
        v=1, type="device.status.changed", ts=at, sensor="cam-02", status="fault", detail="lens fogged"
    )
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


# -- decode_event (the aggregator's decoder) agrees with the models ----------------------------------------------

VALID = [
    SPEED,
    {
        "v": "1",
        "type": "traffic.violation.detected",
        "ts": "2026-11-22T07:30:00.250+07:00",
        "sensor": "scam-01",
        "segment": "seg-hv-01",
        "speed_kmh": "71.5",
        "limit_kmh": "50",
        "vehicle_class": "motorbike",
    },
    {
        "v": "1",
        "type": "flood.water_level.observed",
        "ts": "2026-11-22T00:30:00Z",
        "sensor": "wl-tam-ky",
        "level_m": "1.72",
    },
    {
        "v": "1",
        "type": "flood.rain.observed",
        "ts": "1795381200",
        "sensor": "rg-01",
        "rain_mm": "3.5",
        "interval_s": "600",
    },
    {
        "v": "1",
        "type": "wifi.usage.observed",
        "ts": "2026-11-22T07:30:00+07:00",
        "sensor": "wifi-01",
        "clients": "31",
        "mbps": "12.25",
    },
    {
        "v": "1",
        "type": "device.status.changed",
        "ts": "2026-11-22T07:30:00+07:00",
        "sensor": "cam-02",
        "status": "offline",
    },
]
# Text a sensor integrator might send by mistake, or that sits at the edge of a rule.
ODD_TEXT = [
    "",
    " ",
    "0",
    "-0",
    "-1",
    "1e3",
    "nan",
    "inf",
    " 12 ",
    "12.",
    ".5",
    "007",
    "+5",
    "1_0",
    "2.5",
    "250",
    "250.0001",
    "100000",
    "100001",
    "3600",
    "3601",
    "٣",
    "cam 01",
    "cam-01\n",
    "x" * 65,
    "x" * 201,
    "online",
    "fault",
    "Online",
    "motorbike",
    "tank",
    "1",
    "2",
    "2026-11-22T07:30:00",
    "2026-02-30T07:30:00Z",
    "2026-11-22T24:00:00+07:00",
    "2026-11-22T07:30:00+24:00",
    "2026-11-22 07:30:00+07:00",
    "yesterday",
    "2026-11-22T07:30:00.1234567+07:00",
    "traffic.speed.observed",
    "wifi.usage.observed",
]


def _outcome(decode: Any, fields: dict[str, str]) -> Any:
    try:
        return decode(fields)
    except InvalidEvent as exc:
        return f"invalid: {exc}"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(VALID),
    changes=st.dictionaries(
        st.sampled_from(
            [
                "v",
                "type",
                "ts",
                "sensor",
                "segment",
                "speed_kmh",
                "vehicles",
                "interval_s",
                "limit_kmh",
                "vehicle_class",
                "level_m",
                "rain_mm",
                "clients",
                "mbps",
                "status",
                "detail",
                "colour",
            ]
        ),
        st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=12), st.none()),
        max_size=3,
    ),
)
def test_decode_event_accepts_and_rejects_as_the_models_do(base: dict[str, str], changes: dict[str, Any]) -> None:
    fields = {**base, **{k: v for k, v in changes.items() if v is not None}}
    for name in [k for k, v in changes.items() if v is None]:
        fields.pop(name, None)
    expected = _outcome(lambda f: reading_of(parse_event(f)), fields)
    assert _outcome(decode_event, fields) == expected
    batch = decode_events([base, fields, base])
    middle = f"invalid: {batch[1]}" if isinstance(batch[1], InvalidEvent) else batch[1]
    assert middle == expected
    assert batch[0] == batch[2] == decode_event(base)


def test_decoded_reading_has_plain_values_and_the_event_time() -> None:
    reading = decode_event(SPEED)
    assert reading.type == "traffic.speed.observed" and reading.sensor == "cam-01"
    assert reading.at == datetime(2026, 11, 22, 0, 30, tzinfo=UTC).timestamp()
    assert reading.values["speed_kmh"] == 23.5 and reading.values["vehicles"] == 41
    assert reading.document() == {
        "type": "traffic.speed.observed",
        "segment": "seg-pct-01",
        "speed_kmh": 23.5,
        "vehicles": 41,
        "interval_s": 60,
        "ts": reading.at,
    }
    status = decode_event(VALID[-1])
    assert status.values["detail"] == ""  # the model's default, as parse_event gives it
