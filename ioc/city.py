"""The city model: wards, road segments and sensors loaded from replaceable data files, checked for consistency.

A city is a folder holding `city.json`, `roads.geojson`, `sensors.json` and `basemap.geojson`
(format in docs/CITY.md). Tam Kỳ ships as the default in `ioc/cities/tam_ky`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from ioc.errors import CityDataError
from ioc.keys import Domain

DEFAULT_CITY_DIR: Final = Path(__file__).parent / "cities" / "tam_ky"
RoadClass = Literal["expressway", "national", "arterial", "collector"]
SensorKind = Literal["traffic_camera", "speed_camera", "water_station", "rain_gauge", "wifi_hotspot"]
ROAD_CLASSES: Final = ("expressway", "national", "arterial", "collector")
SENSOR_KINDS: Final[dict[str, Domain]] = {
    "traffic_camera": "traffic",
    "speed_camera": "traffic",
    "water_station": "flood",
    "rain_gauge": "flood",
    "wifi_hotspot": "wifi",
}
SEGMENT_TAGS: Final = ("market", "school", "hospital", "bridge", "centre")
KM_PER_DEG: Final = 111.32


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Straight-line distance, equirectangular: plenty for a city."""
    dy = (lat2 - lat1) * KM_PER_DEG
    dx = (lon2 - lon1) * KM_PER_DEG * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


def distance_to_line_km(lat: float, lon: float, coords: Sequence[tuple[float, float]]) -> float:
    """How far a point lies from a polyline of (lat, lon) points (km; flat around the point: plenty for a city)."""
    scale_x = KM_PER_DEG * math.cos(math.radians(lat))
    points = [((p_lon - lon) * scale_x, (p_lat - lat) * KM_PER_DEG) for p_lat, p_lon in coords]
    if len(points) == 1:
        return math.hypot(*points[0])
    best = math.inf
    for (ax, ay), (bx, by) in pairwise(points):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        share = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
        best = min(best, math.hypot(ax + share * dx, ay + share * dy))
    return best


@dataclass(frozen=True)
class Ward:
    """An administrative ward (since 2025) with the former wards and communes merged into it."""

    id: str
    name: str
    former: tuple[str, ...]


@dataclass(frozen=True)
class Segment:
    """A directed stretch of a named road, the unit of speed state and colouring on the map."""

    id: str
    road: str
    road_class: RoadClass
    speed_limit_kmh: int
    ward: str
    tags: tuple[str, ...]
    coords: tuple[tuple[float, float], ...]  # (lat, lon) pairs

    @property
    def midpoint(self) -> tuple[float, float]:
        """The point halfway along the segment (in degrees, fine at city scale), to fly to or label it."""
        steps = [
            ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5 for a, b in zip(self.coords, self.coords[1:], strict=False)
        ]
        remaining = sum(steps) / 2
        for (a, b), step in zip(zip(self.coords, self.coords[1:], strict=False), steps, strict=True):
            if step >= remaining and step > 0:
                share = remaining / step
                return (a[0] + (b[0] - a[0]) * share, a[1] + (b[1] - a[1]) * share)
            remaining -= step
        return self.coords[0]


@dataclass(frozen=True)
class Sensor:
    """Any device that reports events: its kind decides its domain and what its fields mean."""

    id: str
    kind: SensorKind
    name: str
    lat: float
    lon: float
    ward: str
    report_interval_s: int
    segments: tuple[str, ...] = ()  # traffic and speed cameras: the segments they observe
    limit_kmh: int | None = None  # speed cameras
    river: str | None = None  # water stations
    alarm_levels_m: tuple[float, float, float] | None = None  # water stations: BĐ I, II, III
    normal_level_m: float | None = None  # water stations: typical dry-season level
    capacity_clients: int | None = None  # wifi hotspots
    snapshot_url: str | None = None  # cameras, optional: a still image of what it sees now
    stream_url: str | None = None  # cameras, optional: its live stream (a page or a player URL)

    @property
    def domain(self) -> Domain:
        """The raw stream this sensor's data events go to."""
        return SENSOR_KINDS[self.kind]


@dataclass(frozen=True)
class City:
    """Everything the system knows about one city, read-only once loaded."""

    id: str
    name: str
    name_en: str
    timezone: str
    center: tuple[float, float]
    zoom: int
    bbox: tuple[tuple[float, float], tuple[float, float]]  # (south, west), (north, east)
    wards: dict[str, Ward]
    segments: dict[str, Segment]
    sensors: dict[str, Sensor]
    basemap: dict[str, Any] = field(repr=False)
    roads_geojson: dict[str, Any] = field(repr=False)

    def sensors_of(self, kind: SensorKind) -> list[Sensor]:
        """Sensors of one kind in file order."""
        return [s for s in self.sensors.values() if s.kind == kind]

    def contains(self, lat: float, lon: float) -> bool:
        """Whether a point lies in the city's bounding box."""
        (south, west), (north, east) = self.bbox
        return south <= lat <= north and west <= lon <= east


# -- the files' shapes -------------------------------------------------------------------------------------------
# One pydantic model per shape of the four files (docs/CITY.md); what spans items or files (unknown wards and
# segments, duplicate ids, the bbox) is checked afterwards in _cross_check.


def _custom(kind: str, message: str) -> PydanticCustomError:
    """A problem said in our words; the value is in the message already, so no ", got ..." is added."""
    return PydanticCustomError(f"city_{kind}", message)


def _known_tag(tag: str) -> str:
    if tag not in SEGMENT_TAGS:
        raise _custom("tag", f"unknown tag {tag!r} (known: {', '.join(SEGMENT_TAGS)})")
    return tag


def _web_url(value: str) -> str:
    """An http(s) address from the city data (shown as a link: no other scheme may reach a page)."""
    if not value.lower().startswith(("http://", "https://")) or len(value) > 2000:
        raise _custom("url", "must be an http:// or https:// address")
    return value


def _camera_segments(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise _custom("segments", "a camera must list the segments it observes")
    return value


def _three_ascending(value: tuple[float, ...]) -> tuple[float, ...]:
    if len(value) != 3 or not value[0] < value[1] < value[2]:
        raise _custom("alarm_levels", f"must be three ascending levels (BĐ I, II, III), got {list(value)}")
    return value


def _bd_levels(levels: tuple[float, ...]) -> tuple[float, float, float]:
    """A station's checked alarm levels as the three they are."""
    low, middle, high = levels
    return (low, middle, high)


def _line_of_points(value: list[list[float]]) -> list[list[float]]:
    if len(value) < 2:
        raise _custom("geometry", "a LineString needs at least 2 points")
    return value


Tag = Annotated[str, AfterValidator(_known_tag)]
WebUrl = Annotated[str, AfterValidator(_web_url)]
CameraSegments = Annotated[tuple[str, ...], AfterValidator(_camera_segments)]
AlarmLevels = Annotated[tuple[float, ...], AfterValidator(_three_ascending)]
Position = Annotated[list[float], Field(min_length=2)]  # [lon, lat], an altitude after them is ignored
Point = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)  # unknown keys are ignored (e.g. "sources")


class WardData(_Model):
    """A ward in city.json."""

    id: str
    name: str
    former: tuple[str, ...] = ()


class CityFile(_Model):
    """city.json: identity, map view, wards."""

    id: str
    name: str
    name_en: str | None = None
    timezone: str = "Asia/Ho_Chi_Minh"
    center: Point
    zoom: int = 13
    bbox: tuple[Point, Point]
    wards: list[WardData]


class SegmentProperties(_Model):
    """The properties of a road segment in roads.geojson."""

    id: str
    road: str
    road_class: RoadClass
    speed_limit_kmh: PositiveInt
    ward: str
    tags: tuple[Tag, ...] = ()
    lanes: PositiveInt | None = None


class LineString(_Model):
    """A GeoJSON LineString of [lon, lat] points."""

    type: Literal["LineString"]
    coordinates: Annotated[list[Position], AfterValidator(_line_of_points)]


class RoadFeature(_Model):
    """One road segment: a GeoJSON Feature."""

    properties: SegmentProperties
    geometry: LineString


class RoadsFile(_Model):
    """roads.geojson: a FeatureCollection of road segments."""

    features: list[RoadFeature]


class SensorData(_Model):
    """Fields every sensor in sensors.json has."""

    id: str
    name: str
    lat: float
    lon: float
    ward: str
    report_interval_s: PositiveInt | None = None  # None: the kind's default
    snapshot_url: WebUrl | None = None  # cameras, optional: a still image of what it sees now
    stream_url: WebUrl | None = None  # cameras, optional: its live stream (a page or a player URL)


class TrafficCameraData(SensorData):
    """A traffic camera: the 1-2 segments it measures."""

    segments: CameraSegments


class SpeedCameraData(SensorData):
    """A speed camera: the segment it enforces and the limit."""

    segments: CameraSegments
    limit_kmh: PositiveInt


class WaterStationData(SensorData):
    """A water-level station: its river, alarm levels BĐ I..III and typical dry-season level."""

    river: str | None = None
    alarm_levels_m: AlarmLevels
    normal_level_m: float

    @model_validator(mode="after")
    def _normal_below_alarm(self) -> WaterStationData:
        if self.normal_level_m >= self.alarm_levels_m[0]:
            raise _custom("normal_level", "normal_level_m must lie below BĐ I")
        return self


class RainGaugeData(SensorData):
    """A rain gauge."""


class WifiHotspotData(SensorData):
    """A public wifi hotspot: how many clients it is sized for."""

    capacity_clients: PositiveInt


class ReportIntervals(_Model):
    """Seconds between reports, per sensor kind (a sensor may override its kind's)."""

    traffic_camera: PositiveInt
    speed_camera: PositiveInt
    water_station: PositiveInt
    rain_gauge: PositiveInt
    wifi_hotspot: PositiveInt


class SensorsFile(_Model):
    """sensors.json: the report intervals and one list per sensor kind (each may be empty)."""

    report_interval_s: ReportIntervals
    traffic_camera: list[TrafficCameraData]
    speed_camera: list[SpeedCameraData]
    water_station: list[WaterStationData]
    rain_gauge: list[RainGaugeData]
    wifi_hotspot: list[WifiHotspotData]


# -- reading and checking -----------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CityDataError(f"missing city file {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise CityDataError(f"{path.name}: not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CityDataError(f"{path.name}: not valid JSON: {exc}") from None


ModelT = TypeVar("ModelT", bound=BaseModel)
_MAX_PROBLEMS: Final = 5


def _validated(model: type[ModelT], data: Any, file: str) -> ModelT:
    """A file's data as its model, or CityDataError naming the file, the item (kind and id) and each problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [_problem(file, data, error) for error in errors[:_MAX_PROBLEMS]]
        more = f" (and {len(errors) - _MAX_PROBLEMS} more)" if len(errors) > _MAX_PROBLEMS else ""
        raise CityDataError("; ".join(problems) + more) from None


def _problem(file: str, data: Any, error: ErrorDetails) -> str:
    """One validation error as "<file> <item>: <field>: <problem>", the item named by its kind and id."""
    where, path = _item(file, data, error["loc"])
    if error["type"] == "missing" and path:
        inside = f"{'.'.join(path[:-1])}: " if len(path) > 1 else ""
        if path[-1].isdigit():  # a [lat, lon] pair or a bbox with too few items
            return f"{where}: {inside}too few items"
        return f"{where}: {inside}missing {path[-1]!r}"
    field = f"{'.'.join(path)}: " if path else ""
    got = "" if error["type"].startswith("city_") else f", got {_short(error['input'])}"
    return f"{where}: {field}{error['msg']}{got}"


_ITEM_LISTS: Final[dict[str, tuple[str, ...]]] = {
    "city.json": ("wards",),
    "roads.geojson": ("features",),
    "sensors.json": tuple(SENSOR_KINDS),
}


def _item(file: str, data: Any, loc: tuple[int | str, ...]) -> tuple[str, list[str]]:
    """Who an error is about (the file, or the file and the item by kind and id) and the path inside it."""
    path = [str(part) for part in loc]
    if len(loc) < 2 or loc[0] not in _ITEM_LISTS[file] or not isinstance(loc[1], int):
        return file, path
    try:
        raw = data[loc[0]][loc[1]]
        if file == "roads.geojson":
            kind, ident = "segment", raw["properties"]["id"]
            if path[2:3] == ["properties"]:
                path = path[1:]  # a segment's fields are its properties
        else:
            kind, ident = (str(loc[0]) if file == "sensors.json" else "ward"), raw["id"]
    except (KeyError, IndexError, TypeError):
        return f"{file} {loc[0]}[{loc[1]}]", path[2:]
    return f"{file} {kind} {ident!r}", path[2:]


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def load_city(city_dir: Path | None = None) -> City:
    """Load and check a city folder; raise CityDataError naming the file and item at fault."""
    folder = Path(city_dir) if city_dir is not None else DEFAULT_CITY_DIR
    if not folder.is_dir():
        raise CityDataError(f"city folder {folder} does not exist")
    meta = _validated(CityFile, _read_json(folder / "city.json"), "city.json")
    roads_json = _read_json(folder / "roads.geojson")
    roads = _validated(RoadsFile, roads_json, "roads.geojson")
    sensors = _validated(SensorsFile, _read_json(folder / "sensors.json"), "sensors.json")
    basemap = _read_json(folder / "basemap.geojson")
    return _cross_check(meta, roads, sensors, basemap=basemap, roads_geojson=roads_json)


def _cross_check(meta: CityFile, roads: RoadsFile, sensors: SensorsFile, *, basemap: Any, roads_geojson: Any) -> City:
    """The city from its validated files, after the checks that span items and files."""
    wards: dict[str, Ward] = {}
    for ward in meta.wards:
        if ward.id in wards:
            raise CityDataError(f"city.json: duplicate ward id {ward.id!r}")
        wards[ward.id] = Ward(id=ward.id, name=ward.name, former=ward.former)
    segments: dict[str, Segment] = {}
    for feature in roads.features:
        props = feature.properties
        if props.ward not in wards:
            raise CityDataError(f"roads.geojson segment {props.id!r}: unknown ward {props.ward!r}")
        if props.id in segments:
            raise CityDataError(f"roads.geojson: duplicate segment id {props.id!r}")
        segments[props.id] = Segment(
            id=props.id,
            road=props.road,
            road_class=props.road_class,
            speed_limit_kmh=props.speed_limit_kmh,
            ward=props.ward,
            tags=props.tags,
            coords=tuple((p[1], p[0]) for p in feature.geometry.coordinates),
        )
    city = City(
        id=meta.id,
        name=meta.name,
        name_en=meta.name_en if meta.name_en is not None else meta.name,
        timezone=meta.timezone,
        center=meta.center,
        zoom=meta.zoom,
        bbox=meta.bbox,
        wards=wards,
        segments=segments,
        sensors=_sensors(sensors, segments, wards),
        basemap=basemap,
        roads_geojson=roads_geojson,
    )
    for sensor in city.sensors.values():
        if not city.contains(sensor.lat, sensor.lon):
            raise CityDataError(f"sensors.json: {sensor.id} at {sensor.lat},{sensor.lon} lies outside the city bbox")
    for segment in segments.values():
        for lat, lon in segment.coords:
            if not city.contains(lat, lon):
                raise CityDataError(f"roads.geojson: segment {segment.id} has a point outside the city bbox")
    return city


def _sensors(data: SensorsFile, segments: dict[str, Segment], wards: dict[str, Ward]) -> dict[str, Sensor]:
    """Every sensor, in file order by kind, with its kind's report interval unless it has its own."""
    sensors: dict[str, Sensor] = {}
    kinds: tuple[tuple[SensorKind, Sequence[SensorData]], ...] = (
        ("traffic_camera", data.traffic_camera),
        ("speed_camera", data.speed_camera),
        ("water_station", data.water_station),
        ("rain_gauge", data.rain_gauge),
        ("wifi_hotspot", data.wifi_hotspot),
    )
    for kind, items in kinds:
        for raw in items:
            where = f"sensors.json {kind} {raw.id!r}"
            if raw.id in sensors:
                raise CityDataError(f"sensors.json: duplicate sensor id {raw.id!r}")
            if raw.ward not in wards:
                raise CityDataError(f"{where}: unknown ward {raw.ward!r}")
            cameras = raw.segments if isinstance(raw, TrafficCameraData | SpeedCameraData) else ()
            for segment in cameras:
                if segment not in segments:
                    raise CityDataError(f"{where}: unknown segment {segment!r}")
            station = raw if isinstance(raw, WaterStationData) else None
            sensors[raw.id] = Sensor(
                id=raw.id,
                kind=kind,
                name=raw.name,
                lat=raw.lat,
                lon=raw.lon,
                ward=raw.ward,
                report_interval_s=raw.report_interval_s or getattr(data.report_interval_s, kind),
                segments=cameras,
                limit_kmh=raw.limit_kmh if isinstance(raw, SpeedCameraData) else None,
                river=station.river if station else None,
                alarm_levels_m=_bd_levels(station.alarm_levels_m) if station else None,
                normal_level_m=station.normal_level_m if station else None,
                capacity_clients=raw.capacity_clients if isinstance(raw, WifiHotspotData) else None,
                snapshot_url=raw.snapshot_url,
                stream_url=raw.stream_url,
            )
    return sensors


def cached_city(city_dir: Path | None = None) -> City:
    """The city loaded once per process (it is read-only), for the web workers and the aggregator."""
    return _cached_city((Path(city_dir) if city_dir is not None else DEFAULT_CITY_DIR).resolve())


@cache
def _cached_city(folder: Path) -> City:
    return load_city(folder)
