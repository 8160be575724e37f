"""The domain reducers on their own (no Redis): the registry covers every event type once, and each reducer's
rules turn readings into state, alerts and the stored documents the pages read back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ioc.city import City
from ioc.documents import decode_active, decode_station, decode_stream_alert, encode_doc
from ioc.events import EVENT_DOMAINS, EVENT_TYPES, DeviceStatusChanged, FloodWaterLevelObserved, reading_of
from ioc.keys import DOMAINS, Keys
from ioc.reducers import REDUCERS, Batch, Checked
from ioc.rules import FloodHysteresis

ICT = timezone(timedelta(hours=7))
T0 = datetime(2026, 11, 22, 7, 0, tzinfo=ICT)


def test_every_domain_has_one_reducer_and_every_event_type_one_home() -> None:
    assert tuple(REDUCERS) == DOMAINS
    for event_type in EVENT_TYPES:
        homes = [domain for domain, reducer in REDUCERS.items() if event_type in reducer.sources]
        assert homes == [EVENT_DOMAINS[event_type]], event_type


def _batch(*names: str) -> Batch:
    return Batch({name: {} for name in names}, {})  # type: ignore[misc]


def test_a_rising_river_becomes_station_state_and_an_active_alert(city: City) -> None:
    station = city.sensors_of("water_station")[0]
    assert station.alarm_levels_m is not None
    reducer = REDUCERS["flood"](city, Keys("t"), FloodHysteresis())
    batch = _batch("lastseen", "stations", "gauges")
    readings: list[Checked] = [
        (
            "1-0",
            [],
            reading_of(
                FloodWaterLevelObserved(
                    v=1,
                    type="flood.water_level.observed",
                    ts=T0 + timedelta(minutes=i),
                    sensor=station.id,
                    level_m=level,
                )
            ),
        )
        for i, level in enumerate([1.0, station.alarm_levels_m[1] + 0.05, station.alarm_levels_m[2] + 0.1])
    ]
    reducer.apply(readings, batch)

    assert batch.processed == 3 and not batch.rejected
    assert batch.clock == (T0 + timedelta(minutes=2)).timestamp()
    stored = decode_station(encode_doc(batch.state["stations"][station.id]))
    assert stored is not None and stored["alarm"] == 3
    changes = [decode_stream_alert(fields) for fields in batch.alerts]
    assert [(a.old, a.new, a.severity) for a in changes if a] == [("0", "2", "warning"), ("2", "3", "critical")]
    active = decode_active(batch.active_set[f"flood:{station.id}"])
    assert active is not None and active.level == 3 and active.severity == "critical"
    assert batch.latest[station.id].values["level_m"] == readings[-1][2].values["level_m"]


def test_a_failing_rule_keeps_the_reading_as_a_dead_letter(city: City) -> None:
    """A reading the rules cannot apply (here: a sensor missing from the city) is kept with the error; the rest
    of the batch goes on."""
    reducer = REDUCERS["device"](city, Keys("t"), FloodHysteresis())
    batch = _batch("health")
    good = reading_of(DeviceStatusChanged(v=1, type="device.status.changed", ts=T0, sensor="cam-01", status="fault"))
    ghost = good._replace(sensor="no-such-sensor")
    reducer.apply([("1-0", ["v", "1"], ghost), ("2-0", ["v", "1"], good)], batch)
    assert batch.processed == 1
    assert [(entry_id, reason.split(":")[0]) for entry_id, _, reason in batch.rejected] == [("1-0", "internal error")]
    assert batch.state["health"]["cam-01"]["status"] == "fault"


def test_damaged_documents_read_as_absent() -> None:
    assert decode_station("{not json") is None and decode_station("[1, 2]") is None
    assert decode_station('{"alarm": 2}') == {"level_m": None, "alarm": 2, "below_since": None, "ts": None}
    assert decode_active('{"kind": "something.else"}') is None
    assert decode_stream_alert({"kind": "flood.level.changed", "ts": "x"}) is None
