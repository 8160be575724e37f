"""Versioned event schema (wire format v1): parsing raw stream fields into typed events and back.

On the wire every event is a flat Redis stream entry of string fields (see docs/EVENTS.md). Parsing is strict
about names and ranges so a sensor integrator gets a precise reason in the dead-letter stream.

The pydantic models below are the schema. The simulator builds events as models; the aggregator decodes with
`decode_event`, which validates the same fields and constraints (TypedDicts derived from the models) straight
into plain values, since building a model instance per event cost more than the rest of its processing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final, Literal, NamedTuple, NotRequired, Union, cast

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from ioc.errors import InvalidEvent
from ioc.inputs import text_rule
from ioc.keys import Domain

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1


def _utf8_only(text: str) -> str:
    """Free text must have been valid UTF-8 on the wire (undecodable bytes arrive as lone surrogates)."""
    if not _is_utf8(text):
        raise PydanticCustomError("not_utf8", "not valid UTF-8")
    return text


# Any text a device may send, as long as it is UTF-8 and follows ioc.inputs' rule for a single line of text.
FreeText = Annotated[str, AfterValidator(_utf8_only), AfterValidator(text_rule)]
SensorId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
VehicleClass = Literal["motorbike", "car", "truck", "bus"]
DeviceStatus = Literal["online", "offline", "fault"]


class _EventBase(BaseModel):
    """Fields every event carries: schema version, type, event time and the reporting sensor."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False)

    v: Literal[1]
    ts: AwareDatetime
    sensor: SensorId

    @property
    def domain(self) -> Domain:
        """The domain (and so the raw stream) this event type belongs to."""
        return EVENT_DOMAINS[self.type]  # type: ignore[attr-defined]

    @property
    def epoch(self) -> float:
        """Event time as epoch seconds."""
        return self.ts.timestamp()


class TrafficSpeedObserved(_EventBase):
    """A traffic camera's mean speed and vehicle count on one road segment over an interval."""

    type: Literal["traffic.speed.observed"]
    segment: SensorId
    speed_kmh: float = Field(ge=0, le=250)
    vehicles: int = Field(ge=0, le=100_000)
    interval_s: int = Field(gt=0, le=3_600)


class TrafficViolationDetected(_EventBase):
    """A speed camera measured a vehicle above the limit."""

    type: Literal["traffic.violation.detected"]
    segment: SensorId
    speed_kmh: float = Field(gt=0, le=400)
    limit_kmh: float = Field(gt=0, le=200)
    vehicle_class: VehicleClass


class FloodWaterLevelObserved(_EventBase):
    """A hydrological station's water level in metres (same datum as its alarm levels)."""

    type: Literal["flood.water_level.observed"]
    level_m: float = Field(ge=-10, le=50)


class FloodRainObserved(_EventBase):
    """A rain gauge's rainfall in millimetres over an interval."""

    type: Literal["flood.rain.observed"]
    rain_mm: float = Field(ge=0, le=500)
    interval_s: int = Field(gt=0, le=86_400)


class WifiUsageObserved(_EventBase):
    """A public wifi hotspot's connected clients and throughput."""

    type: Literal["wifi.usage.observed"]
    clients: int = Field(ge=0, le=100_000)
    mbps: float = Field(ge=0, le=100_000)


class DeviceStatusChanged(_EventBase):
    """A device reports its own status (online, offline, fault), with an optional detail."""

    type: Literal["device.status.changed"]
    status: DeviceStatus
    detail: FreeText = Field(default="", max_length=200)


Event = Annotated[
    TrafficSpeedObserved
    | TrafficViolationDetected
    | FloodWaterLevelObserved
    | FloodRainObserved
    | WifiUsageObserved
    | DeviceStatusChanged,
    Field(discriminator="type"),
]

EVENT_TYPES: Final[dict[str, type[_EventBase]]] = {
    "traffic.speed.observed": TrafficSpeedObserved,
    "traffic.violation.detected": TrafficViolationDetected,
    "flood.water_level.observed": FloodWaterLevelObserved,
    "flood.rain.observed": FloodRainObserved,
    "wifi.usage.observed": WifiUsageObserved,
    "device.status.changed": DeviceStatusChanged,
}
EVENT_DOMAINS: Final[dict[str, Domain]] = {
    "traffic.speed.observed": "traffic",
    "traffic.violation.detected": "traffic",
    "flood.water_level.observed": "flood",
    "flood.rain.observed": "flood",
    "wifi.usage.observed": "wifi",
    "device.status.changed": "device",
}

_adapter: TypeAdapter[Event] = TypeAdapter(Event)


def _describe(exc: ValidationError) -> str:
    """Compress pydantic's errors into one line an integrator can act on."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"] if p not in EVENT_TYPES) or "event"
        parts.append(f"{shorten(where)}: {_MESSAGES.get(error['type'], error['msg'])}")
    return "; ".join(parts)


_MESSAGES: Final = {"finite_number": "not a finite number"}  # pydantic's words where ours are clearer


def _check_version_and_type(fields: dict[str, str]) -> str:
    """The event type of an entry whose version and type are known, else InvalidEvent saying which is not."""
    version = fields.get("v")
    if version is None:
        raise InvalidEvent("missing field 'v' (schema version)")
    if version != str(SCHEMA_VERSION):
        raise InvalidEvent(
            f"unsupported schema version v='{shorten(version)}'; this aggregator reads v={SCHEMA_VERSION}"
        )
    event_type = fields.get("type")
    if event_type is None:
        raise InvalidEvent("missing field 'type'")
    if event_type not in EVENT_TYPES:
        raise InvalidEvent(f"unknown event type '{shorten(event_type)}'")
    return event_type


def parse_event(fields: dict[str, str]) -> Event:
    """Turn one stream entry's fields into a typed event, or raise InvalidEvent with the reason."""
    event_type = _check_version_and_type(fields)
    try:
        # The version string was checked above; the models hold it as the number it names.
        return _adapter.validate_python({**fields, "v": SCHEMA_VERSION})
    except ValidationError as exc:
        raise InvalidEvent(f"{event_type}: {_describe(exc)}") from None


def encode_event(event: _EventBase) -> dict[str, str]:
    """The wire fields of an event, in the documented order, every value a string."""
    data = event.model_dump()
    fields: dict[str, str] = {"v": str(data.pop("v")), "type": data.pop("type"), "ts": _format_ts(data.pop("ts"))}
    for name, value in data.items():
        fields[name] = _format_value(value)
    return fields


def _format_ts(value: datetime) -> str:
    """ISO 8601 with offset, to the millisecond at most."""
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")


def _format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else repr(value)
    return str(value)


class Reading(NamedTuple):
    """A valid event in the aggregator's working form: plain values, event time as epoch seconds."""

    type: str
    sensor: str
    at: float
    values: dict[str, Any]  # every field, validated and typed (v, type, ts and sensor too)

    def document(self) -> dict[str, Any]:
        """The reading as the latest-reading hash keeps it: the type, its own values, the event time."""
        doc = {name: value for name, value in self.values.items() if name not in _OWN_EXCLUDED}
        doc["type"] = self.type
        doc["ts"] = self.at
        return doc


_OWN_EXCLUDED: Final = frozenset({"v", "ts", "sensor"})  # kept apart in a document: ts as epoch, sensor as key


def _fields_of(model: type[_EventBase]) -> Any:
    """A TypedDict of a model's wire fields with the same types, constraints and config (v as its wire text)."""
    annotations: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name == "v":
            annotations[name] = Literal["1"]  # checked beforehand with a clearer message; the wire sends text
            continue
        annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        annotations[name] = annotation if info.is_required() else NotRequired[annotation]
    config = ConfigDict(
        extra=model.model_config.get("extra"),
        str_strip_whitespace=model.model_config.get("str_strip_whitespace", False),
        allow_inf_nan=model.model_config.get("allow_inf_nan", True),
    )
    return with_config(config)(TypedDict(f"{model.__name__}Fields", annotations))  # type: ignore[operator]


_ANY_FIELDS: Any = Annotated[
    Union[tuple(_fields_of(model) for model in EVENT_TYPES.values())],  # noqa: UP007
    Field(discriminator="type"),
]
_FIELDS_ADAPTER: Final[TypeAdapter[dict[str, Any]]] = TypeAdapter(_ANY_FIELDS)
_BATCH_ADAPTER: Final[TypeAdapter[list[dict[str, Any]]]] = TypeAdapter(list[_ANY_FIELDS])
_DEFAULTS: Final = {
    name: {f: info.default for f, info in model.model_fields.items() if not info.is_required()}
    for name, model in EVENT_TYPES.items()
}


def decode_event(fields: dict[str, str]) -> Reading:
    """Validate one stream entry into a Reading (no model instance), or raise InvalidEvent with the reason.

    Accepts and rejects exactly what parse_event does, with the same reasons (tests/test_events.py checks both).
    """
    event_type = _check_version_and_type(fields)
    try:
        values: dict[str, Any] = _FIELDS_ADAPTER.validate_python(fields)
    except ValidationError as exc:
        raise InvalidEvent(f"{event_type}: {_describe(exc)}") from None
    return _reading(values)


def decode_events(entries: list[dict[str, str]]) -> list[Reading | InvalidEvent]:
    """decode_event for a batch, in one call into pydantic-core: each entry's Reading, or why it is invalid.

    Should validation itself fail on some input (a bug, not a bad event), that entry is invalid with the error as
    its reason: an entry that breaks the validator is a dead letter, never a stopped aggregator."""
    try:
        return cast("list[Reading | InvalidEvent]", _readings(_BATCH_ADAPTER.validate_python(entries)))
    except ValidationError:
        pass  # at least one is invalid: decode each on its own, for its own reason
    except Exception:
        log.exception("validating a batch failed; validating its entries one by one")
    results: list[Reading | InvalidEvent] = []
    for fields in entries:
        try:
            results.append(decode_event(fields))
        except InvalidEvent as exc:
            results.append(exc)
        except Exception as exc:
            log.exception("validating an entry failed")
            results.append(InvalidEvent(f"internal error while validating: {exc!r}"))
    return results


def _readings(batch: list[dict[str, Any]]) -> list[Reading]:
    """_reading for a validated batch, without a Python call per event (the hot path of the aggregator)."""
    for values in batch:
        defaults = _DEFAULTS[values["type"]]
        if defaults:
            for name, default in defaults.items():
                values.setdefault(name, default)
    new = tuple.__new__
    return [new(Reading, (v["type"], v["sensor"], v["ts"].timestamp(), v)) for v in batch]


def _reading(values: dict[str, Any]) -> Reading:
    event_type: str = values["type"]
    defaults = _DEFAULTS[event_type]
    if defaults:
        for name, default in defaults.items():
            values.setdefault(name, default)
    return Reading(event_type, values["sensor"], values["ts"].timestamp(), values)


def reading_of(event: Event) -> Reading:
    """The Reading of an event model, as decode_event gives for its wire fields."""
    values = event.model_dump()
    values["v"] = str(values["v"])
    return Reading(event.type, event.sensor, event.epoch, values)


# -- raw stream entries ---------------------------------------------------------------------------------------------
# A producer can append anything: any bytes in any name or value, repeated names, thousands of fields. Entries are
# read with undecodable bytes kept as lone surrogates (the client's "surrogateescape"), and each entry is checked
# for its shape here before its fields are validated as an event.

MAX_FIELDS: Final = 64  # an event has at most 11; more is surely not an event (and would make a huge reason)
SHORT_CHARS: Final = 60  # a name or value quoted in a reason is cut to this
DEADLETTER_FIELDS_MAX_CHARS: Final = 65_536  # the copy of a rejected entry kept in its dead letter
NO_FIELDS: Final = "entry has no fields (deleted or trimmed before processing)"

Flat = list[str]  # an entry's fields as read: [name, value, name, value, ...]
RawEntry = tuple[str, Flat | None]  # an entry id and its fields (None or empty: the entry was deleted)


def shorten(text: str, limit: int = SHORT_CHARS) -> str:
    """Text cut to `limit` characters for a reason, bytes that are not UTF-8 shown escaped."""
    text = escape(text)
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text)} characters)"


def escape(text: str) -> str:
    r"""Text as valid UTF-8: undecodable bytes (kept as lone surrogates when read) shown as \xNN."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_utf8(text: str) -> bool:
    """Whether text read from Redis was valid UTF-8 (no byte had to be kept as a lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def entry_problem(flat: Flat | None) -> str:
    """Why an entry's fields cannot be an event's, whatever their values; "" if their shape is fine."""
    if not flat:
        return NO_FIELDS
    if len(flat) > 2 * MAX_FIELDS:
        return f"entry has {len(flat) // 2} fields; an event has at most {MAX_FIELDS}"
    for index, text in enumerate(flat):
        if not _is_utf8(text):
            what = "field name" if index % 2 == 0 else f"value of field '{shorten(flat[index - 1])}'"
            return f"{what} '{shorten(text)}' is not valid UTF-8"
    names = flat[::2]
    if len(set(names)) < len(names):
        repeated = next(name for name in names if names.count(name) > 1)
        return f"field '{shorten(repeated)}' appears {names.count(repeated)} times"
    return ""


def entries_fields(flats: list[Flat | None]) -> list[dict[str, str] | InvalidEvent]:
    """Each entry's fields as a dict, or InvalidEvent saying why its shape cannot be an event's.

    The usual batch (every entry present, no repeated name, not too many fields) is checked in whole-batch C-level
    passes, and only a batch that fails them entry by entry. Undecodable bytes are not looked for here: no field
    with them passes validation (ids are ASCII by pattern, free text is checked, see FreeText), and the reason of
    an entry that fails validation is taken from entry_problem() when it finds them."""
    if all(flats):
        # zip() without strict=: the keyword alone costs a third of this line (pairs come whole from Redis).
        dicts = [dict(zip(it, it)) for it in map(iter, flats)]  # type: ignore[arg-type]  # noqa: B905
        if (
            2 * sum(map(len, dicts)) == sum(map(len, flats))  # type: ignore[arg-type]  # no name repeated
            and max(map(len, flats), default=0) <= 2 * MAX_FIELDS  # type: ignore[arg-type]
        ):
            return dicts  # type: ignore[return-value]
    results: list[dict[str, str] | InvalidEvent] = []
    for flat in flats:
        problem = entry_problem(flat)
        if problem:
            results.append(InvalidEvent(problem))
        else:
            it = iter(flat)  # type: ignore[arg-type]  # entry_problem says it has fields
            results.append(dict(zip(it, it, strict=False)))
    return results


def deadletter_copy(flat: Flat | None) -> tuple[Any, str]:
    """A rejected entry's fields as kept in its dead letter, and a note on how the copy differs ("" if it does not).

    A JSON object of the fields; an array of [name, value] pairs when a name repeats (nothing is merged away).
    Undecodable bytes are shown as \\xNN escapes. A copy whose JSON would exceed DEADLETTER_FIELDS_MAX_CHARS keeps
    its first fields (the last one kept may be cut) and says so; the entry itself stays in the raw stream until
    trimmed, and one producer cannot fill Redis's memory through the dead letters."""
    flat = flat or []
    notes: list[str] = []
    if not all(map(_is_utf8, flat)):
        flat = [escape(text) for text in flat]
        notes.append("bytes that are not UTF-8 shown as \\xNN")
    pairs = list(zip(flat[::2], flat[1::2], strict=True))
    names = [name for name, _ in pairs]
    unique = len(set(names)) == len(names)
    copy: Any = dict(pairs) if unique else [list(pair) for pair in pairs]
    size = len(orjson.dumps(copy))
    if size <= DEADLETTER_FIELDS_MAX_CHARS:
        return copy, "; ".join(notes)
    kept: list[tuple[str, str]] = []
    room = DEADLETTER_FIELDS_MAX_CHARS - 2  # the brackets around the whole copy
    cut = False
    for name, value in pairs:
        cost = _json_chars(name, value)
        if cost > room:
            if _json_chars("", "") <= room:
                kept.append(_cut_to_fit(name, value, room))
                cut = True
            break
        kept.append((name, value))
        room -= cost
    copy = dict(kept) if unique else [list(pair) for pair in kept]
    notes.append(
        f"truncated: {len(kept)} of {len(pairs)} fields kept{', the last one cut' if cut else ''} "
        f"({len(orjson.dumps(copy))} of {size} characters of JSON)"
    )
    return copy, "; ".join(notes)


def _json_chars(name: str, value: str) -> int:
    """At most what a field costs in a copy, as an object member or a [name, value] pair, with its comma."""
    return len(orjson.dumps([name, value])) + 1


def _cut_to_fit(name: str, value: str, room: int) -> tuple[str, str]:
    """A field cut so that it costs at most room (room for an empty field, at least): its value's start, or, when
    even the name is too long, the start of its name."""
    if _json_chars(name, "") <= room:
        return name, value[: _longest_fit(lambda n: _json_chars(name, value[:n]), len(value), room)]
    return name[: _longest_fit(lambda n: _json_chars(name[:n], ""), len(name), room)], ""


def _longest_fit(cost: Callable[[int], int], length: int, room: int) -> int:
    """The longest prefix length n <= length with cost(n) <= room, given cost(0) does (JSON escapes make
    characters cost unequal amounts, so it is searched, not computed)."""
    low, high = 0, length  # a prefix of low fits, one of high + 1 does not
    while low < high:
        middle = (low + high + 1) // 2
        if cost(middle) <= room:
            low = middle
        else:
            high = middle - 1
    return low
