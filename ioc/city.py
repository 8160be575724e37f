"""The city model: wards, road segments and sensors loaded from replaceable data files, checked for consistency.

A city is a folder holding `city.json`, `roads.geojson`, `sensors.json` and `basemap.geojson`
(format in docs/CITY.md). Tam Kỳ ships as the default in `ioc/cities/tam_ky`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

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


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CityDataError(f"missing city file {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise CityDataError(f"{path.name}: not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CityDataError(f"{path.name}: not valid JSON: {exc}") from None


def _require(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise CityDataError(f"{where}: missing {key!r}")
    return obj[key]


def _load_wards(data: dict[str, Any]) -> dict[str, Ward]:
    wards: dict[str, Ward] = {}
    for raw in _require(data, "wards", "city.json"):
        ward = Ward(
            id=_require(raw, "id", "city.json ward"),
            name=_require(raw, "name", "city.json ward"),
            former=tuple(raw.get("former", ())),
        )
        if ward.id in wards:
            raise CityDataError(f"city.json: duplicate ward id {ward.id!r}")
        wards[ward.id] = ward
    return wards


def _load_segments(roads: dict[str, Any], wards: dict[str, Ward]) -> dict[str, Segment]:
    segments: dict[str, Segment] = {}
    for feature in _require(roads, "features", "roads.geojson"):
        props = _require(feature, "properties", "roads.geojson feature")
        where = f"roads.geojson segment {props.get('id')!r}"
        geometry = _require(feature, "geometry", where)
        if geometry.get("type") != "LineString" or len(geometry.get("coordinates", ())) < 2:
            raise CityDataError(f"{where}: geometry must be a LineString of at least 2 points")
        road_class = _require(props, "road_class", where)
        if road_class not in ROAD_CLASSES:
            raise CityDataError(f"{where}: road_class must be one of {ROAD_CLASSES}, got {road_class!r}")
        tags = tuple(props.get("tags", ()))
        for tag in tags:
            if tag not in SEGMENT_TAGS:
                raise CityDataError(f"{where}: unknown tag {tag!r} (known: {SEGMENT_TAGS})")
        ward = _require(props, "ward", where)
        if ward not in wards:
            raise CityDataError(f"{where}: unknown ward {ward!r}")
        segment = Segment(
            id=_require(props, "id", where),
            road=_require(props, "road", where),
            road_class=road_class,
            speed_limit_kmh=int(_require(props, "speed_limit_kmh", where)),
            ward=ward,
            tags=tags,
            coords=tuple((float(point[1]), float(point[0])) for point in geometry["coordinates"]),
        )
        if segment.speed_limit_kmh <= 0:
            raise CityDataError(f"{where}: speed_limit_kmh must be positive")
        if segment.id in segments:
            raise CityDataError(f"roads.geojson: duplicate segment id {segment.id!r}")
        segments[segment.id] = segment
    return segments


def _web_url(value: Any, where: str) -> str | None:
    """An optional http(s) address from the city data (shown as a link: no other scheme may reach a page)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")) or len(value) > 2000:
        raise CityDataError(f"{where}: must be an http:// or https:// address")
    return value


def _load_sensors(data: dict[str, Any], segments: dict[str, Segment], wards: dict[str, Ward]) -> dict[str, Sensor]:
    intervals = _require(data, "report_interval_s", "sensors.json")
    sensors: dict[str, Sensor] = {}
    for kind in SENSOR_KINDS:
        for raw in _require(data, kind, "sensors.json"):
            where = f"sensors.json {kind} {raw.get('id')!r}"
            alarm = raw.get("alarm_levels_m")
            sensor = Sensor(
                id=_require(raw, "id", where),
                kind=kind,  # type: ignore[arg-type]
                name=_require(raw, "name", where),
                lat=float(_require(raw, "lat", where)),
                lon=float(_require(raw, "lon", where)),
                ward=_require(raw, "ward", where),
                report_interval_s=int(raw.get("report_interval_s", _require(intervals, kind, "report_interval_s"))),
                segments=tuple(raw.get("segments", ())),
                limit_kmh=raw.get("limit_kmh"),
                river=raw.get("river"),
                alarm_levels_m=tuple(float(x) for x in alarm) if alarm is not None else None,  # type: ignore[arg-type]
                normal_level_m=raw.get("normal_level_m"),
                capacity_clients=raw.get("capacity_clients"),
                snapshot_url=_web_url(raw.get("snapshot_url"), f"{where} snapshot_url"),
                stream_url=_web_url(raw.get("stream_url"), f"{where} stream_url"),
            )
            if sensor.id in sensors:
                raise CityDataError(f"sensors.json: duplicate sensor id {sensor.id!r}")
            if sensor.ward not in wards:
                raise CityDataError(f"{where}: unknown ward {sensor.ward!r}")
            if kind in ("traffic_camera", "speed_camera"):
                if not sensor.segments:
                    raise CityDataError(f"{where}: a camera must list the segments it observes")
                for seg in sensor.segments:
                    if seg not in segments:
                        raise CityDataError(f"{where}: unknown segment {seg!r}")
            if kind == "speed_camera" and not sensor.limit_kmh:
                raise CityDataError(f"{where}: a speed camera needs limit_kmh")
            if kind == "water_station":
                levels = sensor.alarm_levels_m
                if levels is None or len(levels) != 3 or not levels[0] < levels[1] < levels[2]:
                    raise CityDataError(f"{where}: alarm_levels_m must be three ascending levels (BĐ I, II, III)")
                if sensor.normal_level_m is None:
                    raise CityDataError(f"{where}: a water station needs normal_level_m")
                if sensor.normal_level_m >= levels[0]:
                    raise CityDataError(f"{where}: normal_level_m must lie below BĐ I")
            if sensor.report_interval_s <= 0:
                raise CityDataError(f"{where}: report_interval_s must be positive")
            if kind == "wifi_hotspot" and not sensor.capacity_clients:
                raise CityDataError(f"{where}: a wifi hotspot needs capacity_clients")
            sensors[sensor.id] = sensor
    return sensors


def load_city(city_dir: Path | None = None) -> City:
    """Load and check a city folder; raise CityDataError naming the file and item at fault."""
    folder = Path(city_dir) if city_dir is not None else DEFAULT_CITY_DIR
    if not folder.is_dir():
        raise CityDataError(f"city folder {folder} does not exist")
    try:
        return _load_checked(folder)
    except CityDataError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # A value of the wrong shape deep in a file: still a data error, never a crash with a traceback.
        raise CityDataError(f"{folder}: malformed city data ({type(exc).__name__}: {exc})") from None


def _load_checked(folder: Path) -> City:
    """Read every file of a city folder and cross-check them."""
    meta = _read_json(folder / "city.json")
    wards = _load_wards(meta)
    roads = _read_json(folder / "roads.geojson")
    segments = _load_segments(roads, wards)
    sensors = _load_sensors(_read_json(folder / "sensors.json"), segments, wards)
    bbox_raw = _require(meta, "bbox", "city.json")
    city = City(
        id=_require(meta, "id", "city.json"),
        name=_require(meta, "name", "city.json"),
        name_en=meta.get("name_en", meta["name"]),
        timezone=meta.get("timezone", "Asia/Ho_Chi_Minh"),
        center=(float(meta["center"][0]), float(meta["center"][1])),
        zoom=int(meta.get("zoom", 13)),
        bbox=((float(bbox_raw[0][0]), float(bbox_raw[0][1])), (float(bbox_raw[1][0]), float(bbox_raw[1][1]))),
        wards=wards,
        segments=segments,
        sensors=sensors,
        basemap=_read_json(folder / "basemap.geojson"),
        roads_geojson=roads,
    )
    for sensor in sensors.values():
        if not city.contains(sensor.lat, sensor.lon):
            raise CityDataError(f"sensors.json: {sensor.id} at {sensor.lat},{sensor.lon} lies outside the city bbox")
    for segment in segments.values():
        for lat, lon in segment.coords:
            if not city.contains(lat, lon):
                raise CityDataError(f"roads.geojson: segment {segment.id} has a point outside the city bbox")
    return city


def cached_city(city_dir: Path | None = None) -> City:
    """The city loaded once per process (it is read-only), for the web workers and the aggregator."""
    return _cached_city((Path(city_dir) if city_dir is not None else DEFAULT_CITY_DIR).resolve())


@cache
def _cached_city(folder: Path) -> City:
    return load_city(folder)
