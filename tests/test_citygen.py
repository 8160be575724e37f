"""`ioc city generate`: a synthetic city of the asked size in the city format, loadable, connected, every segment
observed, the same for the same seed, and playable by the simulator; bad arguments refused with exit 2."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ioc.city import SENSOR_KINDS, City, load_city
from simulators.citygen import camera_cover, generate_city, network_edges, write_city
from tests.test_city import segment_length_m
from tests.test_cli import cli_env, ioc

SENSORS, SEGMENTS = 300, 120


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, City]:
    folder = tmp_path_factory.mktemp("citygen") / "city"
    write_city(folder, SENSORS, SEGMENTS, seed=7)
    return folder, load_city(folder)


def connected(city: City) -> bool:
    """Whether every segment can be reached from any other through shared points."""
    by_point: dict[tuple[float, float], set[str]] = {}
    for segment in city.segments.values():
        for point in (segment.coords[0], segment.coords[-1]):
            by_point.setdefault(point, set()).add(segment.id)
    seen: set[str] = set()
    todo = [next(iter(city.segments))]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            segment = city.segments[current]
            for point in (segment.coords[0], segment.coords[-1]):
                todo.extend(by_point[point] - seen)
    return seen == set(city.segments)


def test_a_small_city_loads_with_exactly_the_sizes_asked(small: tuple[Path, City]) -> None:
    _, city = small
    assert len(city.segments) == SEGMENTS
    assert len(city.sensors) == SENSORS
    counts = {kind: len(city.sensors_of(kind)) for kind in SENSOR_KINDS}  # type: ignore[arg-type]
    assert all(count >= 1 for count in counts.values()), counts
    assert counts["traffic_camera"] > counts["wifi_hotspot"] > counts["speed_camera"] > counts["water_station"]
    assert 10 <= len(city.wards) <= 12


def test_the_network_is_connected_and_every_segment_observed(small: tuple[Path, City]) -> None:
    _, city = small
    assert connected(city)
    observed = {s for camera in city.sensors_of("traffic_camera") for s in camera.segments}
    assert observed == set(city.segments)
    for segment in city.segments.values():
        assert 800 <= segment_length_m(segment) <= 1_500, segment.id
        assert len(segment.coords) >= 3
    assert {s.road_class for s in city.segments.values()} == {"expressway", "national", "arterial", "collector"}
    assert len({s.speed_limit_kmh for s in city.segments.values()}) >= 4
    assert {tag for s in city.segments.values() for tag in s.tags} >= {"centre", "bridge"}


def test_sensors_make_sense(small: tuple[Path, City]) -> None:
    _, city = small
    for camera in city.sensors_of("speed_camera"):
        assert camera.limit_kmh == city.segments[camera.segments[0]].speed_limit_kmh
    stations = city.sensors_of("water_station")
    assert len({s.river for s in stations}) >= 2
    for station in stations:
        assert station.alarm_levels_m is not None and station.normal_level_m is not None
        assert (
            station.normal_level_m < station.alarm_levels_m[0] < station.alarm_levels_m[1] < station.alarm_levels_m[2]
        )
    assert all((s.capacity_clients or 0) > 0 for s in city.sensors_of("wifi_hotspot"))
    assert {s.ward for s in city.sensors.values()} <= set(city.wards)


def test_the_basemap_is_small_with_outline_rivers_and_ward_labels(small: tuple[Path, City]) -> None:
    folder, city = small
    kinds = [f["properties"]["kind"] for f in city.basemap["features"]]
    assert kinds[0] == "outline"
    assert kinds.count("river") >= 2
    assert kinds.count("ward_label") == len(city.wards)
    assert (folder / "basemap.geojson").stat().st_size < 20_000


def test_the_same_seed_gives_the_same_files(small: tuple[Path, City], tmp_path: Path) -> None:
    folder, _ = small
    write_city(tmp_path / "again", SENSORS, SEGMENTS, seed=7)
    write_city(tmp_path / "other", SENSORS, SEGMENTS, seed=8)
    for name in ("city.json", "roads.geojson", "sensors.json", "basemap.geojson"):
        assert (tmp_path / "again" / name).read_bytes() == (folder / name).read_bytes(), name
    assert (tmp_path / "other" / "roads.geojson").read_bytes() != (folder / "roads.geojson").read_bytes()


@pytest.mark.parametrize("segments", [1, 2, 3, 7, 40, 333])
def test_any_size_is_connected_and_covered_with_the_cameras_it_needs(segments: int) -> None:
    cover = camera_cover(network_edges(segments))
    observed = [s for _, seen in cover for s in seen]
    assert len(observed) == len(set(observed)) == segments  # each segment exactly once in the cover
    assert len(cover) <= segments // 2 + max(2, segments // 50)  # nearly a perfect matching
    files = generate_city(len(cover) + 4, segments, seed=segments)
    assert len(files["roads.geojson"]["features"]) == segments


def test_ten_thousand_sensors_take_seconds(tmp_path: Path) -> None:
    started = time.perf_counter()
    write_city(tmp_path / "big", 10_000, 4_000, seed=1)
    took = time.perf_counter() - started
    city = load_city(tmp_path / "big")
    assert (len(city.sensors), len(city.segments)) == (10_000, 4_000)
    assert took < 20, f"generating took {took:.1f} s"
    assert connected(city)
    assert (tmp_path / "big" / "basemap.geojson").stat().st_size < 60_000


def test_the_command_writes_a_city_the_simulator_plays(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data")
    folder = tmp_path / "city"
    done = ioc(
        "city", "generate", "--sensors", str(SENSORS), "--segments", str(SEGMENTS), "--seed", "3", str(folder), env=env
    )
    assert done.returncode == 0, done.stderr
    assert f"IOC_CITY_DIR={folder}" in done.stdout
    city = load_city(folder)
    env["IOC_CITY_DIR"] = str(folder)
    played = ioc("simulate", "normal-day", "--dry-run", "--limit", "50", "--seed", "1", env=env)
    assert played.returncode == 0, played.stderr
    events = [json.loads(line) for line in played.stdout.splitlines()]
    assert len(events) == 50
    assert all(event["fields"]["sensor"] in city.sensors for event in events)
    assert not (tmp_path / "data" / "redis").exists()  # a dry run touches no Redis


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--sensors", "0", "--segments", "10"), "argument --sensors: must be at least 1"),
        (("--sensors", "10", "--segments", "0"), "argument --segments: must be at least 1"),
        (("--sensors", "ten", "--segments", "10"), "argument --sensors: not a whole number"),
        (("--sensors", "60", "--segments", "120"), "--sensors 60 is too few for --segments 120: 60 traffic cameras"),
        (("--sensors", "50", "--segments", "10", "EXISTING"), "exists and is not an empty folder"),
    ],
)
def test_bad_arguments_are_refused_with_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine\n")
    target = str(existing) if args[-1] == "EXISTING" else str(tmp_path / "new")
    argv = [*(a for a in args if a != "EXISTING"), target]
    done = ioc("city", "generate", *argv, env=cli_env(tmp_path / "data"))
    assert done.returncode == 2, done
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "new").exists()
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]


def test_an_empty_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write_city(tmp_path / "empty", 40, 20)
    assert len(load_city(tmp_path / "empty").sensors) == 40
