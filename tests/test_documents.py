"""Stored documents: what the reducers write reads back the same, damaged documents read as absent, and a whole
hash decoded at once (the wall's and the aggregator's path) agrees with decoding each document on its own."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ioc.documents import (
    Alert,
    decode_active,
    decode_gauge,
    decode_health,
    decode_segment,
    decode_state,
    decode_station,
    decode_stream_alert,
    encode_active,
    encode_doc,
)

SEGMENT = {"speed": 31.5, "band": "slow", "congested": False, "ts": 1_764_750_000.1, "sensor": "cam-01"}
STATION = {"level_m": 1.234, "alarm": 1, "below_since": None, "ts": 1_764_750_000.5}
GAUGE = {"hours": {"490000": 1.5}, "rain_1h_mm": 1.5, "rain_24h_mm": 1.5, "rain_class": "light", "ts": 1.0}
HEALTH = {"status": "offline", "since": 5.0, "reason": "missed-reports", "ts": 5.0, "last_report": 1.0}
DECODERS = {"segments": decode_segment, "stations": decode_station, "gauges": decode_gauge, "health": decode_health}
EXAMPLES: dict[str, dict[str, Any]] = {"segments": SEGMENT, "stations": STATION, "gauges": GAUGE, "health": HEALTH}


def test_written_documents_read_back_unchanged() -> None:
    for name, doc in EXAMPLES.items():
        assert DECODERS[name](encode_doc(doc)) == doc  # type: ignore[arg-type]
        assert decode_state(name, {"x": encode_doc(doc)}) == {"x": doc}  # type: ignore[arg-type]


def test_a_value_of_the_wrong_type_or_an_unknown_word_reads_as_absent() -> None:
    assert decode_segment(orjson.dumps({**SEGMENT, "speed": "fast"})) is None
    assert decode_segment(orjson.dumps({**SEGMENT, "band": "purple"})) is None
    assert decode_station(orjson.dumps({**STATION, "alarm": 7})) is None
    assert decode_gauge(orjson.dumps({**GAUGE, "hours": [1, 2]})) is None
    assert decode_health(orjson.dumps({**HEALTH, "status": "asleep"})) is None
    assert decode_health(orjson.dumps({**HEALTH, "extra": 1})) == HEALTH  # a newer version's key is ignored


def test_alerts_read_back_and_unknown_severities_fall_back() -> None:
    alert = Alert(
        kind="flood.level.changed",
        ts=12.5,
        place="wl-01",
        old="1",
        new="3",
        severity="critical",
        lat=15.5,
        lon=108.4,
        level=3,
    )
    assert decode_active(encode_active(alert)) == Alert(**{**alert.__dict__, "old": ""})
    assert decode_stream_alert(alert.stream_fields()) == Alert(**{**alert.__dict__, "level": None})
    odd = decode_stream_alert({**alert.stream_fields(), "severity": "apocalyptic"})
    assert odd is not None and odd.severity == "info"
    odd = decode_active(orjson.dumps({"kind": "device.health.changed", "severity": 3, "status": "fault"}))
    assert odd is not None and (odd.severity, odd.new, odd.place) == ("warning", "fault", "")


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["slow", "unknown", "online", "none", "light"]),
    st.lists(st.integers(-9, 9), max_size=2),
    st.dictionaries(st.text(max_size=3), st.floats(0, 9), max_size=2),
)


@st.composite
def _stored(draw: st.DrawFn, name: str) -> str:
    """A stored document as found in Redis: intact, with keys missing or changed, or not JSON at all."""
    doc = dict(EXAMPLES[name])
    for key in draw(st.lists(st.sampled_from([*doc, "other"]), max_size=3)):
        if draw(st.booleans()):
            doc.pop(key, None)
        else:
            doc[key] = draw(_values)
    text = orjson.dumps(doc).decode()
    return draw(st.sampled_from([text, text, text[:-1], "[1, 2]", ""]))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(list(EXAMPLES)).flatmap(
        lambda name: st.tuples(
            st.just(name), st.dictionaries(st.text(min_size=1, max_size=4), _stored(name), max_size=6)
        )
    )
)
def test_a_whole_hash_decodes_as_each_document_does(case: tuple[str, dict[str, str]]) -> None:
    name, pairs = case
    one_by_one = {item: doc for item, raw in pairs.items() if (doc := DECODERS[name](raw)) is not None}
    assert decode_state(name, pairs) == one_by_one  # type: ignore[arg-type]
