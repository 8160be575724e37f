"""A synthetic city of any size in the city format (docs/CITY.md), for benchmarks and tests: `ioc city generate`.

The same sizes and seed give the same files, byte for byte. What it makes:

- roads: a jittered grid of streets about 1.1 km apart, every stretch between two junctions one segment (3 points,
  the middle one off the straight line) sharing its end points with the segments meeting it; the `segments` nearest
  the centre are kept, so the network is one piece and roughly round. Each grid line is one road: a few national
  roads and one expressway through the middle, arterials every third line, collectors between them, each with its
  speed limit; tags near the centre (`centre`), where a river crosses (`bridge`) and here and there (`market`,
  `school`, `hospital`);
- a dozen wards (a 4 × 3 partition of the map), each segment and sensor in the ward its position falls in;
- traffic cameras at junctions, each observing the two segments that meet there (or one), together observing every
  segment; the others of the mix observe two more segments meeting at a junction (so most segments have several);
- speed cameras on the fastest segments (the limit they enforce is the segment's), water stations along a few
  rivers (alarm levels BĐ I < II < III above a normal level), rain gauges spread over the map, wifi hotspots near
  junctions, in a mix that sums to `sensors`;
- a small basemap: the outline, the rivers, the expressway and national roads, a label per ward.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ioc.errors import IocError

CENTER: Final = (16.05, 108.05)  # a made-up place on the coast of central Vietnam (lat, lon)
SPACING_M: Final = 1_100.0  # between grid lines; with the jitter a segment is about 0.85-1.35 km
JITTER: Final = 0.11  # of the spacing, each way, for junctions
BEND: Final = 0.08  # of the spacing, for a segment's middle point
METRES_PER_DEGREE: Final = 111_320.0
WARD_COLUMNS, WARD_ROWS = 4, 3
RIVER_NAMES: Final = ("Sông Xanh", "Sông Bạc", "Sông Mây", "Sông Đá", "Sông Cát")
WARD_NAMES: Final = (
    "An Bình",
    "An Hòa",
    "Tân Phú",
    "Hòa Thuận",
    "Phước Lộc",
    "Thạnh Mỹ",
    "Bình Minh",
    "Hưng Phát",
    "Vĩnh Xuân",
    "Long Hải",
    "Phú Thịnh",
    "Đông Sơn",
)
# Share of the sensors of each kind besides the traffic cameras (which take the rest).
MIX: Final = {"speed_camera": 0.05, "water_station": 0.02, "rain_gauge": 0.03, "wifi_hotspot": 0.20}
REPORT_INTERVAL_S: Final = {
    "traffic_camera": 60,
    "speed_camera": 300,
    "water_station": 300,
    "rain_gauge": 300,
    "wifi_hotspot": 120,
}
ROAD_KINDS: Final = {  # road class -> (speed limits to pick from, lanes)
    "expressway": ((90, 100), 4),
    "national": ((60, 70), 4),
    "arterial": ((50, 60), 4),
    "collector": ((40, 50), 2),
}
TAG_SHARE: Final = {"market": 0.02, "school": 0.03, "hospital": 0.01}


class CityGenError(IocError):
    """The sizes asked for cannot make a city (the `ioc` command exits 2)."""


Node = tuple[int, int]  # grid column, row; (0, 0) is the centre


@dataclass(frozen=True)
class Edge:
    id: str
    a: Node
    b: Node
    horizontal: bool  # along a row (west-east)
    number: int  # of its road among the roads of its direction, from 1 (west or south)

    @property
    def line(self) -> int:
        """The grid line the edge lies on: its row if horizontal, else its column."""
        return self.a[1] if self.horizontal else self.a[0]


@dataclass
class _Plan:
    """What the generator decided, before it is written out."""

    rng: random.Random
    nodes: dict[Node, tuple[float, float]] = field(default_factory=dict)  # (lat, lon)
    edges: list[Edge] = field(default_factory=list)
    middles: dict[str, tuple[float, float]] = field(default_factory=dict)  # edge id -> its bent middle point


def grid_radius(segments: int) -> int:
    """Half the side of a grid big enough to hold a round network of this many segments (2 per node)."""
    return math.ceil(math.sqrt(segments / (2 * math.pi))) + 2


def network_edges(segments: int) -> list[Edge]:
    """The `segments` grid edges whose middles lie nearest the centre (ties by id). Each of them meets a nearer
    one (towards the centre along its own line or the crossing one), so they form one connected network."""
    n = grid_radius(segments)
    edges = []
    for col in range(-n, n + 1):
        for row in range(-n, n + 1):
            if col < n:
                edges.append(Edge(f"seg-r{row + n:03d}-{col + n:03d}", (col, row), (col + 1, row), True, row + n + 1))
            if row < n:
                edges.append(Edge(f"seg-c{col + n:03d}-{row + n:03d}", (col, row), (col, row + 1), False, col + n + 1))

    def distance(edge: Edge) -> tuple[float, str]:
        x, y = (edge.a[0] + edge.b[0]) / 2, (edge.a[1] + edge.b[1]) / 2
        return (x * x + y * y, edge.id)

    return sorted(edges, key=distance)[:segments]


def _offset(lat0: float, dx_m: float, dy_m: float) -> tuple[float, float]:
    """Degrees (lat, lon) for metres east and north of the centre."""
    return (
        CENTER[0] + dy_m / METRES_PER_DEGREE,
        CENTER[1] + dx_m / (METRES_PER_DEGREE * math.cos(math.radians(lat0))),
    )


def _plan(segments: int, seed: int) -> _Plan:
    plan = _Plan(rng=random.Random(seed))
    rng = plan.rng
    plan.edges = network_edges(segments)
    for node in sorted({node for edge in plan.edges for node in (edge.a, edge.b)}):
        dx = (node[0] + rng.uniform(-JITTER, JITTER)) * SPACING_M
        dy = (node[1] + rng.uniform(-JITTER, JITTER)) * SPACING_M
        plan.nodes[node] = _offset(CENTER[0], dx, dy)
    for edge in plan.edges:
        (lat_a, lon_a), (lat_b, lon_b) = plan.nodes[edge.a], plan.nodes[edge.b]
        bend = rng.uniform(-BEND, BEND) * SPACING_M / METRES_PER_DEGREE
        # The middle point is pushed across the segment's direction (a street is never quite straight).
        plan.middles[edge.id] = (
            (lat_a + lat_b) / 2 + (bend if edge.horizontal else 0.0),
            (lon_a + lon_b) / 2 + (0.0 if edge.horizontal else bend),
        )
    return plan


def _round(value: float) -> float:
    return round(value, 5)


@dataclass(frozen=True)
class _River:
    name: str
    base_lat: float
    amplitude: float
    wavelength: float  # degrees of longitude
    phase: float

    def lat_at(self, lon: float) -> float:
        return self.base_lat + self.amplitude * math.sin(2 * math.pi * lon / self.wavelength + self.phase)


class _Wards:
    """A 4 x 3 partition of the box the network fills; ward ids `ward-01` .. `ward-12`."""

    def __init__(self, south: float, west: float, north: float, east: float) -> None:
        self.south, self.west, self.north, self.east = south, west, north, east

    def of(self, lat: float, lon: float) -> str:
        col = min(WARD_COLUMNS - 1, max(0, int((lon - self.west) / (self.east - self.west) * WARD_COLUMNS)))
        row = min(WARD_ROWS - 1, max(0, int((self.north - lat) / (self.north - self.south) * WARD_ROWS)))
        return f"ward-{row * WARD_COLUMNS + col + 1:02d}"

    def centre(self, number: int) -> tuple[float, float]:
        row, col = divmod(number - 1, WARD_COLUMNS)
        return (
            self.north - (row + 0.5) * (self.north - self.south) / WARD_ROWS,
            self.west + (col + 0.5) * (self.east - self.west) / WARD_COLUMNS,
        )


def _road_class(line: int, horizontal: bool) -> str:
    if line == 0 and horizontal:
        return "expressway"
    if line % 7 == 3:
        return "national"
    if line % 3 == 0:
        return "arterial"
    return "collector"


def _road_name(edge: Edge, road_class: str) -> str:
    if road_class == "expressway":
        return "Cao tốc Đông – Tây"
    if road_class == "national":
        return f"Quốc lộ {edge.number}{'A' if edge.horizontal else 'B'}"
    return f"Đường {'Ngang' if edge.horizontal else 'Dọc'} {edge.number}"


def sensor_mix(sensors: int, segments: int, cameras_needed: int) -> dict[str, int]:
    """How many sensors of each kind: the traffic cameras that observe every segment, and at least one of each
    other kind; the rest by MIX's shares of the whole, what is left over being more traffic cameras."""
    others = len(MIX)
    if sensors < cameras_needed + others:
        raise CityGenError(
            f"--sensors {sensors} is too few for --segments {segments}: {cameras_needed} traffic cameras are needed "
            f"to observe every segment, and one sensor of each other kind ({others}), so at least "
            f"{cameras_needed + others}"
        )
    room = sensors - cameras_needed  # what the other kinds may take at most
    counts = {kind: max(1, round(sensors * share)) for kind, share in MIX.items()}
    while sum(counts.values()) > room:  # shrink the largest kind first, never below one
        largest = max(counts, key=lambda kind: (counts[kind], kind))
        counts[largest] = max(1, counts[largest] - max(1, (sum(counts.values()) - room) // others))
    return {"traffic_camera": sensors - sum(counts.values()), **counts}


def camera_cover(edges: list[Edge]) -> list[tuple[Node, list[str]]]:
    """Cameras at junctions that together observe every segment: at each junction, from the edge of the network
    inwards, the segments not yet observed that meet there two by two (a greedy matching), then one camera for each
    segment left over. Depends only on the network's shape, so the count is known before the sensors are placed."""
    by_node: dict[Node, list[str]] = {}
    for edge in edges:
        by_node.setdefault(edge.a, []).append(edge.id)
        by_node.setdefault(edge.b, []).append(edge.id)
    # Junctions with fewer free segments first (the network's rim), so few are left over at the end.
    order = sorted(by_node, key=lambda node: (-(node[0] ** 2 + node[1] ** 2), node))
    covered: set[str] = set()
    cameras: list[tuple[Node, list[str]]] = []
    for node in order:
        free = [segment for segment in by_node[node] if segment not in covered]
        for first, second in zip(free[::2], free[1::2], strict=False):
            cameras.append((node, [first, second]))
            covered.update((first, second))
    cameras += [(edge.a, [edge.id]) for edge in edges if edge.id not in covered]
    return cameras


def generate_city(sensors: int, segments: int, seed: int = 0) -> dict[str, Any]:
    """The four files of a synthetic city, by file name, as JSON-ready data."""
    if segments < 1:
        raise CityGenError(f"--segments must be at least 1, got {segments}")
    if sensors < 1:
        raise CityGenError(f"--sensors must be at least 1, got {sensors}")
    plan = _plan(segments, seed)
    cover = camera_cover(plan.edges)
    mix = sensor_mix(sensors, segments, len(cover))
    rng = plan.rng
    points = [*plan.nodes.values(), *plan.middles.values()]
    south, north = min(p[0] for p in points), max(p[0] for p in points)
    west, east = min(p[1] for p in points), max(p[1] for p in points)
    margin = 0.004
    wards = _Wards(south - margin, west - margin, north + margin, east + margin)
    height, width = north - south, east - west
    rivers = [
        _River(
            name=RIVER_NAMES[i],
            base_lat=south + height * (i + 0.5) / min(3, len(RIVER_NAMES)),
            amplitude=height * rng.uniform(0.03, 0.08),
            wavelength=max(width, 0.01) * rng.uniform(0.4, 0.9),
            phase=rng.uniform(0, 2 * math.pi),
        )
        for i in range(min(3, len(RIVER_NAMES)))
    ]
    roads = _roads(plan, wards, rivers)
    by_id = {feature["properties"]["id"]: feature for feature in roads}
    sensors_file = _sensors(plan, cover, mix, wards, rivers, by_id, (south, west, north, east))
    bbox = [
        [_round(south - 2 * margin), _round(west - 2 * margin)],
        [_round(north + 2 * margin), _round(east + 2 * margin)],
    ]
    city: dict[str, Any] = {
        "id": f"synthetic_{seed}",
        "name": f"Thành phố Mẫu ({sensors} thiết bị, {segments} đoạn đường)",
        "name_en": f"Synthetic city ({sensors} sensors, {segments} segments)",
        "timezone": "Asia/Ho_Chi_Minh",
        "center": [_round(CENTER[0]), _round(CENTER[1])],
        "zoom": max(9, 14 - int(math.log2(max(1.0, math.sqrt(segments) / 4)))),
        "bbox": bbox,
        "wards": [
            {"id": f"ward-{n:02d}", "name": f"Phường {WARD_NAMES[n - 1]}", "former": []}
            for n in range(1, WARD_COLUMNS * WARD_ROWS + 1)
        ],
        "sources": [
            f"generated by `ioc city generate --sensors {sensors} --segments {segments} --seed {seed}`: "
            "every name, place and level is made up, for benchmarks and tests"
        ],
    }
    basemap = _basemap(plan, wards, rivers, roads, city["wards"], (south, west, north, east))
    return {
        "city.json": city,
        "roads.geojson": {"type": "FeatureCollection", "features": roads},
        "sensors.json": sensors_file,
        "basemap.geojson": basemap,
    }


def _roads(plan: _Plan, wards: _Wards, rivers: list[_River]) -> list[dict[str, Any]]:
    rng = plan.rng
    limits: dict[tuple[bool, int], int] = {}
    features = []
    for edge in plan.edges:
        road_class = _road_class(edge.line, edge.horizontal)
        choices, lanes = ROAD_KINDS[road_class]
        limit = limits.setdefault((edge.horizontal, edge.line), rng.choice(choices))  # one limit per road
        a, middle, b = plan.nodes[edge.a], plan.middles[edge.id], plan.nodes[edge.b]
        tags = []
        if max(abs(c) for c in (*edge.a, *edge.b)) <= 1:
            tags.append("centre")
        if any((river.lat_at(a[1]) - a[0]) * (river.lat_at(b[1]) - b[0]) < 0 for river in rivers):
            tags.append("bridge")
        tags += [tag for tag, share in TAG_SHARE.items() if rng.random() < share]
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "id": edge.id,
                    "road": _road_name(edge, road_class),
                    "road_class": road_class,
                    "speed_limit_kmh": limit,
                    "ward": wards.of(*middle),
                    "tags": tags,
                    "lanes": lanes,
                },
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[_round(p[1]), _round(p[0])] for p in (a, middle, b)],
                },
            }
        )
    return features


def _near(rng: random.Random, point: tuple[float, float], metres: float = 15.0) -> tuple[float, float]:
    """A point within a few metres of another (a device beside the road, not on its centre line)."""
    d = metres / METRES_PER_DEGREE
    return (_round(point[0] + rng.uniform(-d, d)), _round(point[1] + rng.uniform(-d, d)))


def _sensors(
    plan: _Plan,
    cover: list[tuple[Node, list[str]]],
    mix: dict[str, int],
    wards: _Wards,
    rivers: list[_River],
    roads: dict[str, dict[str, Any]],
    box: tuple[float, float, float, float],
) -> dict[str, Any]:
    rng = plan.rng
    nodes = plan.nodes
    junctions = sorted(nodes)
    by_node: dict[Node, list[str]] = {}
    for edge in plan.edges:
        by_node.setdefault(edge.a, []).append(edge.id)
        by_node.setdefault(edge.b, []).append(edge.id)

    def place(kind: str, number: int, name: str, at: tuple[float, float], **extra: Any) -> dict[str, Any]:
        return {"id": f"{kind}-{number:05d}", "name": name, "lat": at[0], "lon": at[1], "ward": wards.of(*at), **extra}

    def junction_name(node: Node) -> str:
        names = sorted({roads[s]["properties"]["road"] for s in by_node[node]})
        return " – ".join(names[:2])

    cover = list(cover)
    for _ in range(
        mix["traffic_camera"] - len(cover)
    ):  # more cameras: two segments meeting at a junction picked at random
        node = rng.choice(junctions)
        cover.append((node, sorted(rng.sample(by_node[node], min(2, len(by_node[node]))))))
    traffic = [
        place("cam", i + 1, f"Camera giao lộ {junction_name(node)}", _near(rng, nodes[node]), segments=observed)
        for i, (node, observed) in enumerate(cover)
    ]
    fast = sorted(plan.edges, key=lambda e: (-roads[e.id]["properties"]["speed_limit_kmh"], e.id))
    fast = fast[: max(1, len(fast) // 4)]
    speed = []
    for i in range(mix["speed_camera"]):
        edge = fast[i % len(fast)] if i < len(fast) else rng.choice(fast)
        props = roads[edge.id]["properties"]
        speed.append(
            place(
                "spd",
                i + 1,
                f"Camera tốc độ {props['road']}",
                _near(rng, plan.middles[edge.id]),
                segments=[edge.id],
                limit_kmh=props["speed_limit_kmh"],
            )
        )
    south, west, north, east = box
    water = []
    for i in range(mix["water_station"]):
        river = rivers[i % len(rivers)]
        lon = west + (east - west) * rng.uniform(0.02, 0.98)
        bd1 = round(rng.uniform(1.2, 3.0), 2)
        levels = [bd1, round(bd1 + rng.uniform(0.3, 0.7), 2)]
        levels.append(round(levels[1] + rng.uniform(0.3, 0.7), 2))
        water.append(
            place(
                "wl",
                i + 1,
                f"Trạm {river.name} {i // len(rivers) + 1}",
                (_round(river.lat_at(lon)), _round(lon)),
                river=river.name,
                alarm_levels_m=levels,
                normal_level_m=round(bd1 - rng.uniform(0.6, 1.1), 2),
            )
        )
    rain = [
        place(
            "rg",
            i + 1,
            f"Trạm đo mưa {i + 1}",
            (_round(rng.uniform(south, north)), _round(rng.uniform(west, east))),
        )
        for i in range(mix["rain_gauge"])
    ]
    wifi = [
        place(
            "wifi",
            i + 1,
            f"Wifi công cộng {i + 1}",
            _near(rng, nodes[rng.choice(junctions)], 40.0),
            capacity_clients=rng.choice((100, 150, 200, 300, 400, 500)),
        )
        for i in range(mix["wifi_hotspot"])
    ]
    return {
        "report_interval_s": dict(REPORT_INTERVAL_S),
        "traffic_camera": traffic,
        "speed_camera": speed,
        "water_station": water,
        "rain_gauge": rain,
        "wifi_hotspot": wifi,
    }


def _basemap(
    plan: _Plan,
    wards: _Wards,
    rivers: list[_River],
    roads: list[dict[str, Any]],
    ward_list: list[dict[str, Any]],
    box: tuple[float, float, float, float],
) -> dict[str, Any]:
    """Outline, rivers, the expressway and national roads as one line each, ward labels: a few KB whatever the size."""
    south, west, north, east = box

    def feature(kind: str, name: str, geometry: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"type": "Feature", "properties": {"kind": kind, "name": name, **extra}, "geometry": geometry}

    outline = [[_round(west), _round(south)], [_round(east), _round(south)], [_round(east), _round(north)]]
    outline += [[_round(west), _round(north)], [_round(west), _round(south)]]
    features = [feature("outline", "Thành phố Mẫu", {"type": "Polygon", "coordinates": [outline]})]
    for river in rivers:
        line = []
        for step in range(25):
            lon = west + (east - west) * step / 24
            line.append([_round(lon), _round(min(north, max(south, river.lat_at(lon))))])
        features.append(feature("river", river.name, {"type": "LineString", "coordinates": line}))
    main: dict[str, list[Node]] = {}  # the expressway and national roads: each drawn from end to end
    for edge, road in zip(plan.edges, roads, strict=True):
        if road["properties"]["road_class"] in ("expressway", "national"):
            main.setdefault(road["properties"]["road"], []).extend((edge.a, edge.b))
    for name, ends in sorted(main.items()):
        line = [[_round(plan.nodes[node][1]), _round(plan.nodes[node][0])] for node in (min(ends), max(ends))]
        features.append(feature("road", name, {"type": "LineString", "coordinates": line}))
    for number, ward in enumerate(ward_list, start=1):
        lat, lon = wards.centre(number)
        features.append(
            feature(
                "ward_label",
                ward["name"],
                {"type": "Point", "coordinates": [_round(lon), _round(lat)]},
                former=[],
                ward=ward["id"],
            )
        )
    return {"type": "FeatureCollection", "features": features}


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_city(folder: Path, sensors: int, segments: int, seed: int = 0) -> dict[str, int]:
    """Generate a city into `folder` (created; refused if it is a file or holds anything); the size of each file."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise CityGenError(f"{folder} exists and is not an empty folder: choose a new one")
    files = generate_city(sensors, segments, seed)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for name, data in files.items():
        text = _dumps(data)
        (folder / name).write_text(text, encoding="utf-8")
        sizes[name] = len(text.encode())
    return sizes
