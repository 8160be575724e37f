"""The default city (Tam Kỳ) meets the minimums of the data files, and the loader rejects a broken city folder
with a CityDataError that names the problem."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ioc.city import DEFAULT_CITY_DIR, ROAD_CLASSES, SEGMENT_TAGS, City, Segment, load_city
from ioc.errors import CityDataError

WARDS = {
    "tam-ky": ("Tam Kỳ", {"An Mỹ", "An Xuân", "Trường Xuân"}),
    "ban-thach": ("Bàn Thạch", {"Tân Thạnh", "Hòa Thuận", "Tam Thăng"}),
    "quang-phu": ("Quảng Phú", {"An Phú", "Tam Thanh", "Tam Phú"}),
    "huong-tra": ("Hương Trà", {"Hòa Hương", "An Sơn", "Tam Ngọc"}),
}
NAMED_ROADS = (
    "Phan Châu Trinh",
    "Hùng Vương",
    "Phan Bội Châu",
    "Huỳnh Thúc Kháng",
    "Nguyễn Văn Trỗi",
    "Bạch Đằng",
    "Hồ Duy Tân",
    "Quốc lộ 1A",
    "Quốc lộ 40B",
    "Võ Chí Công",
    "Cao tốc Đà Nẵng – Quảng Ngãi",
)
RIVERS = ("Tam Kỳ", "Bàn Thạch", "Trường Giang", "Đầm", "Kỳ Phú")
EARTH_M = 6_371_000.0


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_M * math.asin(math.sqrt(h))


def metres_to_segment(point: tuple[float, float], segment: Segment) -> float:
    """Shortest distance from a point to a segment's polyline (flat-earth approximation, fine at city scale)."""
    kx = math.radians(1) * EARTH_M * math.cos(math.radians(point[0]))
    ky = math.radians(1) * EARTH_M

    def xy(p: tuple[float, float]) -> tuple[float, float]:
        return ((p[1] - point[1]) * kx, (p[0] - point[0]) * ky)

    best = math.inf
    for a, b in zip(segment.coords, segment.coords[1:], strict=False):
        (ax, ay), (bx, by) = xy(a), xy(b)
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, -(ax * dx + ay * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(ax + t * dx, ay + t * dy))
    return best


def segment_length_m(segment: Segment) -> float:
    return sum(metres_between(a, b) for a, b in zip(segment.coords, segment.coords[1:], strict=False))


# ---------------------------------------------------------------------------------------------- the default city


def test_city_metadata(city: City) -> None:
    assert (city.id, city.name, city.name_en, city.timezone) == ("tam_ky", "Tam Kỳ", "Tam Ky", "Asia/Ho_Chi_Minh")
    assert city.contains(*city.center)
    (south, west), (north, east) = city.bbox
    assert south < north and west < east


def test_four_wards_with_their_former_names(city: City) -> None:
    assert set(city.wards) == set(WARDS)
    for ward_id, (name, former) in WARDS.items():
        assert city.wards[ward_id].name == name
        assert set(city.wards[ward_id].former) == former


def test_segments_are_many_and_well_formed(city: City) -> None:
    assert len(city.segments) >= 30
    for segment in city.segments.values():
        assert segment.id == segment.id.lower() and segment.id.startswith("seg-")
        assert segment.road_class in ROAD_CLASSES
        assert segment.speed_limit_kmh > 0
        assert 3 <= len(segment.coords) <= 8, segment.id
        assert set(segment.tags) <= set(SEGMENT_TAGS)
        assert 500 <= segment_length_m(segment) <= 2_500, segment.id
    properties = [f["properties"] for f in city.roads_geojson["features"]]
    assert all(isinstance(p["lanes"], int) and p["lanes"] > 0 for p in properties)


def test_named_roads_are_present(city: City) -> None:
    roads = {s.road for s in city.segments.values()}
    for name in NAMED_ROADS:
        assert any(road.startswith(name) for road in roads), name


def test_every_road_class_and_tag_is_used(city: City) -> None:
    segments = city.segments.values()
    assert {s.road_class for s in segments} == set(ROAD_CLASSES)
    assert {t for s in segments for t in s.tags} == set(SEGMENT_TAGS)
    expressway = [s for s in segments if s.road_class == "expressway"]
    assert len(expressway) >= 2
    assert all(s.speed_limit_kmh >= 80 for s in expressway)
    assert all(lon < city.center[1] for s in expressway for _, lon in s.coords)  # west of the city


def test_road_network_is_connected(city: City) -> None:
    """Roads meet at shared points, so the whole network is one piece."""
    by_point: dict[tuple[float, float], set[str]] = {}
    for segment in city.segments.values():
        for point in segment.coords:
            by_point.setdefault(point, set()).add(segment.id)
    seen: set[str] = set()
    todo = [next(iter(city.segments))]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for point in city.segments[current].coords:
            todo.extend(by_point[point] - seen)
    assert seen == set(city.segments)


def test_traffic_cameras_observe_every_segment_from_nearby(city: City) -> None:
    cameras = city.sensors_of("traffic_camera")
    assert len(cameras) >= 20
    observed = {seg for camera in cameras for seg in camera.segments}
    assert observed == set(city.segments)
    for camera in cameras:
        assert 1 <= len(camera.segments) <= 2
        for seg in camera.segments:
            assert metres_to_segment((camera.lat, camera.lon), city.segments[seg]) < 100, (camera.id, seg)


def test_speed_cameras_sit_on_fast_segments_with_the_segment_limit(city: City) -> None:
    cameras = city.sensors_of("speed_camera")
    assert len(cameras) == 6
    for camera in cameras:
        assert len(camera.segments) == 1
        segment = city.segments[camera.segments[0]]
        assert camera.limit_kmh == segment.speed_limit_kmh
        assert segment.speed_limit_kmh >= 60
        assert metres_to_segment((camera.lat, camera.lon), segment) < 50


def test_water_stations_and_the_tam_ky_station(city: City) -> None:
    stations = city.sensors_of("water_station")
    assert len(stations) == 8
    tam_ky = city.sensors["wl-tam-ky"]
    assert (tam_ky.kind, tam_ky.name, tam_ky.river) == ("water_station", "Trạm Tam Kỳ", "Tam Kỳ")
    assert tam_ky.alarm_levels_m == (1.70, 2.20, 2.70)
    rivers = {s.river for s in stations}
    assert set(RIVERS) <= rivers
    for station in stations:
        assert station.alarm_levels_m is not None and station.normal_level_m is not None
        assert 0 <= station.normal_level_m < station.alarm_levels_m[0], station.id


def test_rain_gauges_and_wifi_hotspots(city: City) -> None:
    assert len(city.sensors_of("rain_gauge")) == 6
    hotspots = city.sensors_of("wifi_hotspot")
    assert len(hotspots) == 20
    assert all(h.capacity_clients is not None and 50 <= h.capacity_clients <= 400 for h in hotspots)


def test_every_sensor_is_inside_the_bbox_in_a_known_ward_with_an_interval(city: City) -> None:
    ids = [s.id for s in city.sensors.values()]
    assert len(ids) == len(set(ids))
    for sensor in city.sensors.values():
        assert city.contains(sensor.lat, sensor.lon), sensor.id
        assert sensor.ward in city.wards
        assert sensor.report_interval_s > 0
        assert sensor.name


def test_basemap_has_outline_rivers_coast_and_ward_labels(city: City) -> None:
    assert city.basemap["type"] == "FeatureCollection"
    features = city.basemap["features"]
    kinds = [f["properties"]["kind"] for f in features]
    assert kinds.count("outline") == 1
    assert features[0]["properties"]["kind"] == "outline"  # drawn first, under everything else
    rivers = {f["properties"]["name"] for f in features if f["properties"]["kind"] == "river"}
    assert set(RIVERS) <= rivers
    assert "coast" in kinds and "road" in kinds and "water" in kinds
    labels = [f for f in features if f["properties"]["kind"] == "ward_label"]
    assert len(labels) == 4
    assert {f["properties"]["name"] for f in labels} == {name for name, _ in WARDS.values()}
    for label in labels:
        assert label["geometry"]["type"] == "Point"
        lon, lat = label["geometry"]["coordinates"]
        assert city.contains(lat, lon)
        assert set(label["properties"]["former"]) == WARDS[label["properties"]["ward"]][1]
    assert (DEFAULT_CITY_DIR / "basemap.geojson").stat().st_size < 60_000


def test_a_city_loads_from_any_folder(tmp_path: Path, city: City) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(DEFAULT_CITY_DIR, folder)
    copy = load_city(folder)
    assert copy.segments == city.segments and copy.sensors == city.sensors


# ---------------------------------------------------------------------------------------------- broken data


@pytest.fixture
def city_dir(tmp_path: Path) -> Path:
    """A writable copy of the default city folder."""
    folder = tmp_path / "city"
    shutil.copytree(DEFAULT_CITY_DIR, folder)
    return folder


def edit(folder: Path, name: str, change: Callable[[Any], None]) -> None:
    path = folder / name
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def first(kind: str) -> Callable[[Any], dict[str, Any]]:
    def pick(data: Any) -> dict[str, Any]:
        item: dict[str, Any] = data[kind][0]
        return item

    return pick


def station(sensor_id: str) -> Callable[[Any], dict[str, Any]]:
    def pick(data: Any) -> dict[str, Any]:
        found: dict[str, Any] = next(s for s in data["water_station"] if s["id"] == sensor_id)
        return found

    return pick


def segment_props(segment_id: str) -> Callable[[Any], dict[str, Any]]:
    def pick(data: Any) -> dict[str, Any]:
        props: dict[str, Any] = next(f for f in data["features"] if f["properties"]["id"] == segment_id)["properties"]
        return props

    return pick


def set_field(pick: Callable[[Any], dict[str, Any]], key: str, value: Any) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        pick(data)[key] = value

    return change


def drop_field(pick: Callable[[Any], dict[str, Any]], key: str) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        del pick(data)[key]

    return change


def copy_id(kind: str, source: int, target: int) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        data[kind][target]["id"] = data[kind][source]["id"]

    return change


def duplicate_segment(data: Any) -> None:
    feature = next(f for f in data["features"] if f["properties"]["id"] == "seg-pct-01")
    data["features"].append(json.loads(json.dumps(feature)))


def move_segment_point(data: Any) -> None:
    feature = next(f for f in data["features"] if f["properties"]["id"] == "seg-pct-01")
    feature["geometry"]["coordinates"][0] = [109.5, 15.56]


BROKEN: list[tuple[str, Callable[[Any], None], tuple[str, ...]]] = [
    (
        "sensors.json",
        set_field(first("traffic_camera"), "segments", ["seg-pct-01", "seg-nowhere"]),
        ("cam-01", "unknown segment 'seg-nowhere'"),
    ),
    (
        "sensors.json",
        set_field(station("wl-tam-ky"), "alarm_levels_m", [2.7, 2.2, 1.7]),
        ("wl-tam-ky", "alarm_levels_m", "ascending"),
    ),
    ("sensors.json", set_field(station("wl-tam-ky"), "alarm_levels_m", [1.7, 2.2]), ("wl-tam-ky", "alarm_levels_m")),
    ("sensors.json", set_field(first("rain_gauge"), "lat", 16.2), ("rg-01", "outside the city bbox")),
    ("sensors.json", copy_id("traffic_camera", 0, 1), ("duplicate sensor id 'cam-01'",)),
    ("sensors.json", set_field(first("wifi_hotspot"), "id", "cam-01"), ("duplicate sensor id 'cam-01'",)),
    ("sensors.json", set_field(first("wifi_hotspot"), "ward", "hoi-an"), ("wifi-01", "unknown ward 'hoi-an'")),
    ("sensors.json", set_field(first("traffic_camera"), "segments", []), ("cam-01", "segments it observes")),
    ("sensors.json", drop_field(first("speed_camera"), "limit_kmh"), ("spd-01", "limit_kmh")),
    ("sensors.json", drop_field(station("wl-tam-ky"), "normal_level_m"), ("wl-tam-ky", "normal_level_m")),
    ("sensors.json", drop_field(first("wifi_hotspot"), "capacity_clients"), ("wifi-01", "capacity_clients")),
    ("sensors.json", drop_field(first("rain_gauge"), "name"), ("rg-01", "missing 'name'")),
    ("roads.geojson", duplicate_segment, ("duplicate segment id 'seg-pct-01'",)),
    (
        "roads.geojson",
        set_field(segment_props("seg-pct-01"), "road_class", "motorway"),
        ("seg-pct-01", "road_class", "motorway"),
    ),
    (
        "roads.geojson",
        set_field(segment_props("seg-pct-01"), "ward", "hoi-an"),
        ("seg-pct-01", "unknown ward 'hoi-an'"),
    ),
    (
        "roads.geojson",
        set_field(segment_props("seg-pct-01"), "tags", ["pagoda"]),
        ("seg-pct-01", "unknown tag 'pagoda'"),
    ),
    ("roads.geojson", move_segment_point, ("seg-pct-01", "outside the city bbox")),
    ("city.json", copy_id("wards", 0, 1), ("duplicate ward id 'tam-ky'",)),
]


@pytest.mark.parametrize(("name", "change", "expected"), BROKEN, ids=[" / ".join(e) for _, _, e in BROKEN])
def test_loader_rejects_broken_data_naming_the_problem(
    city_dir: Path, name: str, change: Callable[[Any], None], expected: tuple[str, ...]
) -> None:
    edit(city_dir, name, change)
    with pytest.raises(CityDataError) as info:
        load_city(city_dir)
    for fragment in expected:
        assert fragment in str(info.value)


@pytest.mark.parametrize("name", ["city.json", "roads.geojson", "sensors.json", "basemap.geojson"])
def test_loader_rejects_invalid_json_naming_the_file(city_dir: Path, name: str) -> None:
    path = city_dir / name
    path.write_text(path.read_text(encoding="utf-8")[:-20], encoding="utf-8")
    with pytest.raises(CityDataError, match=re.escape(f"{name}: not valid JSON")):
        load_city(city_dir)


def test_loader_rejects_a_missing_file_or_folder(city_dir: Path, tmp_path: Path) -> None:
    (city_dir / "sensors.json").unlink()
    with pytest.raises(CityDataError, match=r"missing city file .*sensors\.json"):
        load_city(city_dir)
    with pytest.raises(CityDataError, match="does not exist"):
        load_city(tmp_path / "nowhere")
