"""Episodes: timed happenings a scenario adds to its ordinary day, one pydantic model per kind.

An episode is `{kind, at_min, duration_min, id?, title?, ...}` in a scenario's `episodes` list: it begins
`at_min` minutes after the simulation starts and lasts `duration_min` (some effects fade out after, e.g. a crash's
`clear_min`). `kind` picks the model (a discriminated union), so an unknown kind or a field the kind does not have
is refused with its line. `id` (optional, unique in the scenario) is how an exercise's injects and scoring will
refer to an episode; `title` is what a trainer reads.

Kinds (the engine's side is `simulators/effects.py`):
- `flood`: rain over the city and catchment (`rain_mm_h`, a series), the river stations following a hydrograph
  given at one `reference` station in metres, turned into "stages" (0 normal level, 1 BĐ I, 2 BĐ II, 3 BĐ III)
  so every station rises through its own alarm lines in order (`stations`: scale and lag per station), an
  optional `reservoir` release raising the stations below the dam, and `flooded_roads` whose traffic collapses
  while their station is above a BĐ line.
- `crash`: a road segment nearly blocked, neighbouring segments (sharing an end) slowed by the queue spilling
  back, hop by hop; it clears over `clear_min` after `duration_min`.
- `camera_outage`: named cameras, or a share of them (of one ward if given), go offline and come back.
- `device_outage`: named devices of any kind (a camera, a water station, a rain gauge, a hotspot) go dark and come
  back (what a trainer's device fault on the map plays).
- `sensor_fault`: one sensor's reading stuck at a value or drifting, optionally announced as a fault.
- `alarm_storm`: many alerts in a short time: a share of the devices flapping offline and online, and a burst of
  speed violations.

A series is a list of `[minute, value]` points from the episode's start, minutes increasing, read as straight
lines between points and the end values held outside them, within the episode only.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ioc.city import City
from ioc.events import FreeText
from simulators.fields import Num, Pair, city_of, custom

CAMERA_KINDS: Final = ("traffic_camera", "speed_camera")
SENSOR_KINDS: Final = ("traffic_camera", "speed_camera", "water_station", "rain_gauge", "wifi_hotspot")
CameraKind = Literal["traffic_camera", "speed_camera"]
SensorKindName = Literal["traffic_camera", "speed_camera", "water_station", "rain_gauge", "wifi_hotspot"]
Id = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _points(value: object) -> object:
    if not isinstance(value, list) or len(value) < 2:
        raise custom("series", "expected a list of at least two [minute, value] points")
    for index, point in enumerate(value):
        if not isinstance(point, list) or len(point) != 2:
            raise custom("series", f"point {index}: expected [minute, value], got {point!r}")
    return value


def _increasing(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    for index, ((before, _), (after, _)) in enumerate(pairwise(points)):
        if after <= before:
            raise custom("series", f"point {index + 1}: minute {after:g} is not after {before:g}")
    if points[0][0] < 0:
        raise custom("series", f"point 0: minute {points[0][0]:g} is before the episode starts")
    return points


Series = Annotated[list[tuple[Num, Num]], BeforeValidator(_points), AfterValidator(_increasing)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EpisodeBase(_Strict):
    """What every episode has: when it starts and how long it lasts, and how people refer to it."""

    at_min: Num = Field(ge=0)
    duration_min: Num = Field(gt=0, le=30 * 24 * 60)
    id: Id | None = None
    title: StrictStr = ""

    @property
    def at_s(self) -> float:
        """Seconds from the simulation's start to the episode's."""
        return self.at_min * 60.0

    @property
    def end_s(self) -> float:
        """Seconds from the simulation's start to the episode's end."""
        return (self.at_min + self.duration_min) * 60.0

    def _series_within(self, name: str, series: list[tuple[float, float]]) -> None:
        if series[-1][0] > self.duration_min:
            raise custom(
                "series", f"{name}: minute {series[-1][0]:g} is after the episode ends ({self.duration_min:g})"
            )


def _sensor(city: City, sensor: str, kinds: tuple[str, ...], what: str) -> None:
    found = city.sensors.get(sensor)
    if found is None or found.kind not in kinds:
        known = sorted(s.id for s in city.sensors.values() if s.kind in kinds)
        raise custom("sensor", f"{what}: unknown {' or '.join(kinds)} {sensor!r} (known: {', '.join(known)})")


def _water_station(station: str, info: ValidationInfo) -> str:
    city = city_of(info)
    if city is not None:
        _sensor(city, station, ("water_station",), "station")
    return station


def _segment(city: City | None, segment: str) -> None:
    if city is None:
        return
    if segment not in city.segments:
        raise custom(
            "segment", f"unknown road segment {segment!r} (see roads.geojson, e.g. {next(iter(city.segments))})"
        )


# -- flood -------------------------------------------------------------------------------------------------------


class StationResponse(_Strict):
    """How one station follows the reference: its stage is `scale` times the reference's, `lag_min` later."""

    scale: Num = Field(1.0, ge=0, le=3)
    lag_min: Num = Field(0.0, ge=-24 * 60, le=24 * 60)


class ReservoirRelease(_Strict):
    """Water let out of a reservoir: it raises the stations below the dam, `lag_min` after it leaves."""

    name: StrictStr = "Phú Ninh"
    release_m3s: Series  # [[minute, m³/s], ...]
    rise_m_per_100_m3s: dict[Id, Annotated[Num, Field(ge=0, le=5)]]  # per station downstream
    lag_min: Num = Field(60.0, ge=0, le=24 * 60)

    @field_validator("rise_m_per_100_m3s")
    @classmethod
    def _known_stations(cls, rises: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        for station in rises:
            _water_station(station, info)
        return rises


class FloodedRoad(_Strict):
    """Low-lying segments under water while a station is above one of its BĐ lines: traffic collapses."""

    segments: Annotated[list[Id], Field(min_length=1)]
    station: Id
    at_alarm: int = Field(2, ge=1, le=3, strict=True)  # they flood from this BĐ line of the station
    speed_factor: Num = Field(0.15, ge=0.02, le=1)  # share of the usual speed once fully flooded
    full_above_m: Num = Field(0.2, gt=0, le=3)  # water this far above the line floods them fully

    @field_validator("segments")
    @classmethod
    def _known_segments(cls, segments: list[str], info: ValidationInfo) -> list[str]:
        for segment in segments:
            _segment(city_of(info), segment)
        return segments

    @field_validator("station")
    @classmethod
    def _known_station(cls, station: str, info: ValidationInfo) -> str:
        return _water_station(station, info)


class FloodEpisode(EpisodeBase):
    """Rain, rivers through BĐ I/II/III by their own lines, an optional release, roads under water, recession."""

    kind: Literal["flood"]
    rain_mm_h: Series  # city-wide rain on top of the ordinary showers, mm/h
    rain_spread: Num = Field(0.1, ge=0, le=0.9)  # each gauge gets (1 ± up to this) of it, fixed per gauge
    reference: Id = "wl-tam-ky"
    hydrograph_m: Series  # the reference station's level, metres (its own datum, as its alarm lines)
    stations: dict[Id, StationResponse] = {}  # station id, or "default" for those not named (not the reference)
    reservoir: ReservoirRelease | None = None
    flooded_roads: list[FloodedRoad] = []
    demand_factor: Num = Field(1.0, ge=0.1, le=2)  # road demand while it lasts (people stay home: below 1)

    @field_validator("reference")
    @classmethod
    def _known_reference(cls, station: str, info: ValidationInfo) -> str:
        return _water_station(station, info)

    @field_validator("stations")
    @classmethod
    def _known_stations(cls, stations: dict[str, StationResponse], info: ValidationInfo) -> dict[str, StationResponse]:
        for station in stations:
            if station != "default":
                _water_station(station, info)
        return stations

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        self._series_within("rain_mm_h", self.rain_mm_h)
        self._series_within("hydrograph_m", self.hydrograph_m)
        if any(value < 0 for _, value in self.rain_mm_h):
            raise custom("series", "rain_mm_h: rain cannot be negative")
        if self.reservoir is not None:
            self._series_within("reservoir.release_m3s", self.reservoir.release_m3s)
            if any(value < 0 for _, value in self.reservoir.release_m3s):
                raise custom("series", "reservoir.release_m3s: a release cannot be negative")
        return self


# -- crash -------------------------------------------------------------------------------------------------------


class CrashEpisode(EpisodeBase):
    """A crash nearly blocking one segment; the queue spills back onto the segments that meet it."""

    kind: Literal["crash"]
    segment: Id
    speed_factor: Num = Field(0.15, ge=0.02, le=1)  # share of the usual speed on the segment
    volume_factor: Num = Field(0.4, ge=0, le=1)  # share of the usual vehicles getting through
    spill_hops: int = Field(1, ge=0, le=4, strict=True)  # how many segments away the queue reaches
    neighbour_speed_factor: Num = Field(0.5, ge=0.02, le=1)  # first hop; each further hop half the slowdown
    build_min: Num = Field(10.0, ge=0, le=180)  # the queue reaches its length over this
    clear_min: Num = Field(20.0, ge=0, le=24 * 60)  # after `duration_min`, traffic recovers over this

    @field_validator("segment")
    @classmethod
    def _known_segment(cls, segment: str, info: ValidationInfo) -> str:
        _segment(city_of(info), segment)
        return segment


# -- devices -----------------------------------------------------------------------------------------------------


class CameraOutageEpisode(EpisodeBase):
    """Cameras going offline together (a network or power fault), then back."""

    kind: Literal["camera_outage"]
    cameras: list[Id] = []  # named cameras, or
    share: Annotated[Num, Field(gt=0, le=1)] | None = None  # this share of them, drawn by the seed
    ward: Id | None = None  # with `share`: only cameras of this ward
    kinds: Annotated[list[CameraKind], Field(min_length=1)] = ["traffic_camera", "speed_camera"]
    announce: Literal["offline", "fault", "none"] = "offline"  # "none": they just go quiet
    detail: FreeText = Field("mất kết nối mạng (network link lost)", max_length=200)
    back_detail: FreeText = Field("đã khôi phục kết nối (connection restored)", max_length=200)
    stagger_min: Num = Field(2.0, ge=0, le=120)  # they drop (and come back) spread over this

    @field_validator("cameras")
    @classmethod
    def _known_cameras(cls, cameras: list[str], info: ValidationInfo) -> list[str]:
        city = city_of(info)
        if city is not None:
            for camera in cameras:
                _sensor(city, camera, CAMERA_KINDS, "cameras")
        return cameras

    @field_validator("ward")
    @classmethod
    def _known_ward(cls, ward: str | None, info: ValidationInfo) -> str | None:
        city = city_of(info)
        if city is not None and ward is not None and ward not in city.wards:
            raise custom("ward", f"unknown ward {ward!r} (known: {', '.join(city.wards)})")
        return ward

    @model_validator(mode="after")
    def _which(self) -> Self:
        if bool(self.cameras) == (self.share is not None):
            raise custom("cameras", "give either `cameras` (a list of ids) or `share` (0..1), not both or neither")
        return self


class DeviceOutageEpisode(EpisodeBase):
    """Named devices of any kind going dark (a cut cable, a flat battery), then back."""

    kind: Literal["device_outage"]
    devices: Annotated[list[Id], Field(min_length=1, max_length=100)]
    announce: Literal["offline", "fault", "none"] = "offline"  # "none": they just go quiet
    detail: FreeText = Field("mất tín hiệu (signal lost)", max_length=200)
    back_detail: FreeText = Field("đã có tín hiệu trở lại (signal back)", max_length=200)
    stagger_min: Num = Field(0.0, ge=0, le=120)  # they drop (and come back) spread over this

    @field_validator("devices")
    @classmethod
    def _known_devices(cls, devices: list[str], info: ValidationInfo) -> list[str]:
        city = city_of(info)
        if city is not None:
            for device in devices:
                _sensor(city, device, SENSOR_KINDS, "devices")
        return devices


class SensorFaultEpisode(EpisodeBase):
    """One sensor reporting wrong values: stuck at one value, or drifting away from the truth."""

    kind: Literal["sensor_fault"]
    sensor: Id
    mode: Literal["stuck", "drift"]
    value: Num | None = None  # stuck: what it keeps reporting (default: its last true reading)
    drift_per_h: Num = Field(0.0, ge=-1000, le=1000)  # drift: added per hour of fault, in the reading's unit
    announce: StrictBool = False  # the device reports "fault" as it begins (a silent fault is the harder drill)
    detail: FreeText = Field("cảm biến báo lỗi đo (sensor measurement error)", max_length=200)

    @field_validator("sensor")
    @classmethod
    def _known_sensor(cls, sensor: str, info: ValidationInfo) -> str:
        city = city_of(info)
        if city is not None:
            _sensor(city, sensor, SENSOR_KINDS, "sensor")
        return sensor

    @model_validator(mode="after")
    def _sensible(self) -> Self:
        if self.mode == "drift" and self.drift_per_h == 0:
            raise custom("drift", "a drifting fault needs a non-zero drift_per_h")
        if self.mode == "drift" and self.value is not None:
            raise custom("drift", "`value` is for a stuck sensor; a drifting one starts from its true reading")
        return self


class AlarmStormEpisode(EpisodeBase):
    """Many alerts at once: devices flapping offline and online (say, a flickering power grid) and a burst of
    speed violations, each one an alert on the wall."""

    kind: Literal["alarm_storm"]
    flapping_share: Num = Field(0.5, ge=0, le=1)  # of the devices of `kinds`
    kinds: Annotated[list[SensorKindName], Field(min_length=1)] = [
        "traffic_camera",
        "speed_camera",
        "water_station",
        "rain_gauge",
        "wifi_hotspot",
    ]
    flaps: int = Field(3, ge=1, le=20, strict=True)  # times each flapping device goes down and back
    down_min: Pair = (1.0, 4.0)  # each time, for low..high
    violations: int = Field(0, ge=0, le=20_000, strict=True)  # extra speed violations over the speed cameras
    detail: FreeText = Field("chập chờn nguồn điện (power flicker)", max_length=200)
    back_detail: FreeText = Field("đã có điện trở lại (power restored)", max_length=200)

    @model_validator(mode="after")
    def _fits(self) -> Self:
        low, high = self.down_min
        if not 0 < low <= high:
            raise custom("range", f"down_min: expected 0 < low <= high, got {[low, high]}")
        if self.flaps * high > self.duration_min:
            raise custom(
                "flaps", f"{self.flaps} flaps of up to {high:g} min do not fit in duration_min {self.duration_min:g}"
            )
        return self


Episode = Annotated[
    FloodEpisode | CrashEpisode | CameraOutageEpisode | DeviceOutageEpisode | SensorFaultEpisode | AlarmStormEpisode,
    Field(discriminator="kind"),
]
EPISODE_KINDS: Final[frozenset[str]] = frozenset(
    model.model_fields["kind"].annotation.__args__[0]  # type: ignore[union-attr]
    for model in (
        FloodEpisode,
        CrashEpisode,
        CameraOutageEpisode,
        DeviceOutageEpisode,
        SensorFaultEpisode,
        AlarmStormEpisode,
    )
)


def unique_ids(episodes: list[Any]) -> None:
    """Episode ids name one episode each (injects and scores will refer to them)."""
    seen: set[str] = set()
    for episode in episodes:
        if episode.id is not None:
            if episode.id in seen:
                raise custom("id", f"episode id {episode.id!r} is used twice")
            seen.add(episode.id)
