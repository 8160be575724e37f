"""The stored documents of derived state, one shape each with its encoding: what the aggregator writes and the
pages read (ioc/snapshot.py). Like ioc/rollup.py for roll-ups, this module is the only one that knows their form.

Each document is a JSON object in a hash field (segment, station, gauge, health state; active alerts), or the
fields of an alerts stream entry. Each shape is one TypedDict, the model pydantic checks a stored document
against when it is read. Decoding is lenient with what an older version wrote: a missing key takes its default and
an unknown key is ignored; a damaged document (not JSON, or a value of the wrong type) reads as absent rather than
breaking a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, NotRequired, cast, get_args, get_origin, get_type_hints

import orjson
from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from ioc.keys import StateHash
from ioc.rules import RainClass, Severity, SpeedBand

AlertKind = Literal[
    "flood.level.changed",
    "flood.rain.changed",
    "traffic.congestion.changed",
    "device.health.changed",
    "traffic.violation.detected",  # one speed violation (old: the limit, new: the measured speed), never active
]
ALERT_KINDS: Final[tuple[AlertKind, ...]] = get_args(AlertKind)
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)  # mildest first
HealthStatus = Literal["online", "offline", "fault", "unknown"]


def _severity_or(default: Severity) -> BeforeValidator:
    """An unknown severity reads as the default rather than making the whole alert damaged."""
    return BeforeValidator(lambda value: value if value in SEVERITIES else default)


class SegmentDoc(TypedDict):
    """A road segment's live state: its newest mean speed, band and congestion (with hysteresis)."""

    speed: float | None  # None only in a document written without one (read with the defaults)
    band: SpeedBand
    congested: bool
    ts: float | None
    sensor: NotRequired[str]


class StationDoc(TypedDict):
    """A water-level station's live state: level, alarm (0 below BĐ I, 1..3 BĐ I..III), time below its line."""

    level_m: float | None
    alarm: Annotated[int, Field(ge=0, le=3)]
    below_since: float | None
    ts: float | None


class GaugeDoc(TypedDict):
    """A rain gauge's live state: hourly totals over the last day, and its class by the 24-hour total."""

    hours: dict[str, float]  # epoch hour -> mm
    rain_1h_mm: float
    rain_24h_mm: float
    rain_class: RainClass
    ts: float | None


class HealthDoc(TypedDict):
    """A device's health: status since when, and why (reported, missed reports, reporting)."""

    status: HealthStatus
    since: float
    reason: str
    ts: float | None
    last_report: NotRequired[float]


class ActiveDoc(TypedDict):
    """An alert active now, as stored in its domain's active-alert hash."""

    kind: AlertKind
    place: str
    severity: Annotated[Severity, _severity_or("warning")]
    since: float  # event time of the change that made it active, epoch seconds
    lat: float
    lon: float
    level: NotRequired[int | None]  # flood alerts: the alarm level (1..3)
    status: NotRequired[str | None]  # device alerts: the health status


class AlertFields(TypedDict):
    """The fields of an alerts stream entry (strings on the wire), as Alert.stream_fields writes them."""

    kind: AlertKind
    ts: float
    place: str
    old: str
    new: str
    severity: Annotated[Severity, _severity_or("info")]
    lat: float
    lon: float


StateDoc = SegmentDoc | StationDoc | GaugeDoc | HealthDoc


def _as_read(shape: type, defaults: Mapping[str, Any]) -> Any:
    """A document's TypedDict as it is read: the same fields, types and constraints; a key with a default may be
    absent (an older version did not write it) and reads as the default; an unknown key is ignored."""
    fields: dict[str, Any] = {}
    for name, hint in get_type_hints(shape, include_extras=True).items():
        if name in defaults:
            if get_origin(hint) is NotRequired:
                hint = get_args(hint)[0]
            fields[name] = NotRequired[Annotated[hint, Field(default=defaults[name])]]
        else:
            fields[name] = hint
    read = _typed_dict(f"Stored{shape.__name__}", fields)
    return with_config(ConfigDict(extra="ignore"))(read)


_typed_dict: Any = TypedDict  # called with a name and fields made at run time, which type checkers cannot follow


def _hash_of(read: Any) -> Any:
    """A hash of documents: item id -> document."""
    return dict[str, read]


_STATE_SHAPES: Final[dict[str, tuple[type, dict[str, Any]]]] = {
    "segments": (SegmentDoc, {"speed": None, "band": "unknown", "congested": False, "ts": None}),
    "stations": (StationDoc, {"level_m": None, "alarm": 0, "below_since": None, "ts": None}),
    "gauges": (GaugeDoc, {"hours": {}, "rain_1h_mm": 0.0, "rain_24h_mm": 0.0, "rain_class": "none", "ts": None}),
    "health": (HealthDoc, {"status": "unknown", "since": 0.0, "reason": "", "ts": None}),
}
# Per state hash: a validator of one document, and of a whole hash in one call into pydantic-core (the wall reads
# each hash on every tick, the aggregator when it loads its cache).
_READ: Final[dict[str, Any]] = {name: _as_read(shape, defaults) for name, (shape, defaults) in _STATE_SHAPES.items()}
_DOC: Final[dict[str, TypeAdapter[Any]]] = {name: TypeAdapter(read) for name, read in _READ.items()}
_HASH: Final[dict[str, TypeAdapter[dict[str, Any]]]] = {
    name: TypeAdapter(_hash_of(read)) for name, read in _READ.items()
}
_ACTIVE: Final[TypeAdapter[Any]] = TypeAdapter(
    _as_read(
        ActiveDoc,
        {"place": "", "severity": "warning", "since": 0.0, "lat": 0.0, "lon": 0.0, "level": None, "status": None},
    )
)
_STREAM_ALERT: Final[TypeAdapter[Any]] = TypeAdapter(
    _as_read(AlertFields, {"ts": 0.0, "place": "", "old": "", "new": "", "severity": "info", "lat": 0.0, "lon": 0.0})
)


def encode_doc(doc: StateDoc) -> str:
    """A state document as stored: compact JSON (as json.dumps with compact separators writes it)."""
    return orjson.dumps(doc).decode()


def _validated(adapter: TypeAdapter[Any], raw: str | bytes | None) -> Any:
    """A stored JSON object validated, or None when absent, damaged, not an object or not of its shape."""
    if not raw:
        return None
    try:
        return adapter.validate_json(raw)
    except ValidationError:
        return None


def decode_segment(raw: str | bytes | None) -> SegmentDoc | None:
    """A stored segment state, or None when absent or damaged."""
    return cast("SegmentDoc | None", _validated(_DOC["segments"], raw))


def decode_station(raw: str | bytes | None) -> StationDoc | None:
    """A stored station state, or None when absent or damaged."""
    return cast("StationDoc | None", _validated(_DOC["stations"], raw))


def decode_gauge(raw: str | bytes | None) -> GaugeDoc | None:
    """A stored gauge state, or None when absent or damaged."""
    return cast("GaugeDoc | None", _validated(_DOC["gauges"], raw))


def decode_health(raw: str | bytes | None) -> HealthDoc | None:
    """A stored health document, or None when absent or damaged."""
    return cast("HealthDoc | None", _validated(_DOC["health"], raw))


def decode_state(name: StateHash, pairs: Mapping[str, str]) -> dict[str, Any]:
    """A whole derived-state hash as stored (item id -> document; last-seen times as floats), damaged items left
    out: a record someone broke must not stop the aggregator or blank the wall."""
    if name == "lastseen":
        times: dict[str, float] = {}
        for sensor, value in pairs.items():
            try:
                times[sensor] = float(value)
            except ValueError:
                continue
        return times
    try:
        # The usual hash, every document intact: each parsed in C, all validated in one call.
        return _HASH[name].validate_python({item: orjson.loads(raw) for item, raw in pairs.items()})
    except (orjson.JSONDecodeError, ValidationError):
        pass  # at least one is damaged: each on its own
    adapter = _DOC[name]
    return {item: doc for item, doc in ((item, _validated(adapter, raw)) for item, raw in pairs.items()) if doc}


def alarm_text(level: int) -> str:
    """A flood alarm level (0 below BĐ I, 1..3 BĐ I..III) as a flood.level.changed alert carries it in old/new."""
    return str(level)


def alarm_level(text: str) -> int | None:
    """The flood alarm level a flood.level.changed alert's old or new carries, or None when the text is not one
    (ASCII digits only: "²" passes str.isdigit() but not int())."""
    return int(text) if text.isascii() and text.isdigit() else None


@dataclass(frozen=True)
class Alert:
    """A level change (an alerts stream entry) or an alert active now (an active-alert hash field)."""

    kind: AlertKind
    ts: float  # event time of the change (an active alert: since when), epoch seconds
    place: str  # sensor or segment id
    old: str
    new: str
    severity: Severity
    lat: float
    lon: float
    level: int | None = None  # flood alerts: the alarm level (1..3)
    status: str | None = None  # device alerts: the health status

    def new_alarm(self) -> int | None:
        """A flood level change's new alarm level; None for another kind or a value that is not a level."""
        return alarm_level(self.new) if self.kind == "flood.level.changed" else None

    def stream_fields(self) -> dict[str, str]:
        """The fields of its alerts stream entry."""
        return {
            "kind": self.kind,
            "ts": f"{self.ts:.3f}",
            "place": self.place,
            "old": self.old,
            "new": self.new,
            "severity": self.severity,
            "lat": f"{self.lat:.6f}",
            "lon": f"{self.lon:.6f}",
        }


def encode_active(alert: Alert) -> str:
    """An active alert as stored in its domain's active-alert hash."""
    doc: ActiveDoc = {
        "kind": alert.kind,
        "place": alert.place,
        "severity": alert.severity,
        "since": alert.ts,
        "lat": alert.lat,
        "lon": alert.lon,
    }
    if alert.level is not None:
        doc["level"] = alert.level
    if alert.status is not None:
        doc["status"] = alert.status
    return orjson.dumps(doc).decode()


# The state an active alert of a kind is in when its record names none (congestion records carry no level).
ACTIVE_STATE: Final[dict[AlertKind, str]] = {"traffic.congestion.changed": "congested"}


def decode_active(raw: str | bytes | None) -> Alert | None:
    """An active alert as stored, or None when damaged or of an unknown kind."""
    doc: ActiveDoc | None = _validated(_ACTIVE, raw)
    if doc is None:
        return None
    level, status = doc.get("level"), doc.get("status")
    new = alarm_text(level) if level is not None else status or ACTIVE_STATE.get(doc["kind"], "")
    return Alert(
        kind=doc["kind"],
        ts=doc["since"],
        place=doc["place"],
        old="",
        new=new,
        severity=doc["severity"],
        lat=doc["lat"],
        lon=doc["lon"],
        level=level,
        status=status,
    )


def decode_stream_alert(fields: Mapping[str, str]) -> Alert | None:
    """An alerts stream entry, or None when damaged or of an unknown kind."""
    try:
        values: AlertFields = _STREAM_ALERT.validate_python(fields)
    except ValidationError:
        return None
    return Alert(**values)
