"""The stored documents of derived state, one shape each with its encoding: what the aggregator writes and the
pages read (ioc/snapshot.py). Like ioc/rollup.py for roll-ups, this module is the only one that knows their form.

Each document is a JSON object in a hash field (segment, station, gauge, health state; active alerts), or the
fields of an alerts stream entry. Decoding is lenient with what an older version wrote: a missing key takes its
default, and a damaged document reads as absent rather than breaking a page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, NotRequired, TypedDict, get_args

import orjson

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


class SegmentDoc(TypedDict):
    """A road segment's live state: its newest mean speed, band and congestion (with hysteresis)."""

    speed: float
    band: SpeedBand
    congested: bool
    ts: float | None
    sensor: NotRequired[str]


class StationDoc(TypedDict):
    """A water-level station's live state: level, alarm (0 below BĐ I, 1..3 BĐ I..III), time below its line."""

    level_m: float
    alarm: int
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


_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "segment": {"speed": None, "band": "unknown", "congested": False, "ts": None},
    "station": {"level_m": None, "alarm": 0, "below_since": None, "ts": None},
    "gauge": {"hours": {}, "rain_1h_mm": 0.0, "rain_24h_mm": 0.0, "rain_class": "none", "ts": None},
    "health": {"status": "unknown", "since": 0.0, "reason": "", "ts": None},
}


def encode_doc(doc: SegmentDoc | StationDoc | GaugeDoc | HealthDoc) -> str:
    """A state document as stored: compact JSON (as json.dumps with compact separators writes it)."""
    return orjson.dumps(doc).decode()


def _json_object(raw: str | bytes | None) -> dict[str, Any] | None:
    """A stored JSON object, or None when absent, damaged or not an object."""
    if not raw:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _decode(raw: str | bytes | None, kind: str) -> dict[str, Any] | None:
    data = _json_object(raw)
    return None if data is None else {**_DEFAULTS[kind], **data}


def decode_segment(raw: str | bytes | None) -> SegmentDoc | None:
    """A stored segment state, or None when absent or damaged."""
    return _decode(raw, "segment")  # type: ignore[return-value]


def decode_station(raw: str | bytes | None) -> StationDoc | None:
    """A stored station state, or None when absent or damaged."""
    return _decode(raw, "station")  # type: ignore[return-value]


def decode_gauge(raw: str | bytes | None) -> GaugeDoc | None:
    """A stored gauge state, or None when absent or damaged."""
    return _decode(raw, "gauge")  # type: ignore[return-value]


def decode_health(raw: str | bytes | None) -> HealthDoc | None:
    """A stored health document, or None when absent or damaged."""
    return _decode(raw, "health")  # type: ignore[return-value]


_STATE_DECODERS: Final[dict[str, Callable[[str | bytes | None], Any]]] = {
    "segments": decode_segment, "stations": decode_station, "gauges": decode_gauge, "health": decode_health,
}  # fmt: skip


def decode_state(name: StateHash, pairs: dict[str, str]) -> dict[str, Any]:
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
    decode = _STATE_DECODERS[name]
    return {item: doc for item, doc in ((item, decode(raw)) for item, raw in pairs.items()) if doc is not None}


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
        return {"kind": self.kind, "ts": f"{self.ts:.3f}", "place": self.place, "old": self.old, "new": self.new,
                "severity": self.severity, "lat": f"{self.lat:.6f}", "lon": f"{self.lon:.6f}"}  # fmt: skip


def encode_active(alert: Alert) -> str:
    """An active alert as stored in its domain's active-alert hash."""
    doc: dict[str, Any] = {"kind": alert.kind, "place": alert.place, "severity": alert.severity, "since": alert.ts,
                           "lat": alert.lat, "lon": alert.lon}  # fmt: skip
    if alert.level is not None:
        doc["level"] = alert.level
    if alert.status is not None:
        doc["status"] = alert.status
    return orjson.dumps(doc).decode()


def _severity(value: Any, default: Severity) -> Severity:
    return value if value in SEVERITIES else default


def _kind(value: Any) -> AlertKind | None:
    return value if value in ALERT_KINDS else None


# The state an active alert of a kind is in when its record names none (congestion records carry no level).
ACTIVE_STATE: Final[dict[AlertKind, str]] = {"traffic.congestion.changed": "congested"}


def decode_active(raw: str | bytes | None) -> Alert | None:
    """An active alert as stored, or None when damaged or of an unknown kind."""
    data = _json_object(raw)
    if data is None or (kind := _kind(data.get("kind"))) is None:
        return None
    try:
        level = int(data["level"]) if data.get("level") is not None else None
        status = str(data["status"]) if data.get("status") is not None else None
        new = alarm_text(level) if level is not None else status or ACTIVE_STATE.get(kind, "")
        return Alert(kind=kind, ts=float(data.get("since", 0.0)), place=str(data.get("place", "")), old="", new=new,
                     severity=_severity(data.get("severity"), "warning"), lat=float(data.get("lat", 0.0)),
                     lon=float(data.get("lon", 0.0)), level=level, status=status)  # fmt: skip
    except (TypeError, ValueError):
        return None


def decode_stream_alert(fields: dict[str, str]) -> Alert | None:
    """An alerts stream entry, or None when damaged or of an unknown kind."""
    kind = _kind(fields.get("kind"))
    if kind is None:
        return None
    try:
        return Alert(kind=kind, ts=float(fields.get("ts", 0)), place=fields.get("place", ""),
                     old=fields.get("old", ""), new=fields.get("new", ""),
                     severity=_severity(fields.get("severity"), "info"), lat=float(fields.get("lat", 0)),
                     lon=float(fields.get("lon", 0)))  # fmt: skip
    except ValueError:
        return None
