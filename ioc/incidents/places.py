"""Where an incident is: the sensor or road segment it concerns, its ward, and the cameras nearest to it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from ioc.city import City

CAMERA_KINDS: Final = ("traffic_camera", "speed_camera")
NEAREST_CAMERAS: Final = 3
EARTH_RADIUS_M: Final = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Place:
    """A sensor or road segment an incident concerns, with what a person needs to find it."""

    id: str
    kind: str  # sensor | segment
    name: str
    ward: str | None
    lat: float
    lon: float


def place_of(city: City, place_id: str, lat: float = 0.0, lon: float = 0.0) -> Place:
    """The place of an alert: its sensor or segment from the city data, else the id at the alert's position."""
    sensor = city.sensors.get(place_id)
    if sensor is not None:
        return Place(sensor.id, "sensor", sensor.name, sensor.ward, sensor.lat, sensor.lon)
    segment = city.segments.get(place_id)
    if segment is not None:
        mid_lat, mid_lon = segment.midpoint
        return Place(segment.id, "segment", f"{segment.road} ({segment.id})", segment.ward, mid_lat, mid_lon)
    return Place(place_id, "sensor", place_id, None, lat, lon)


def nearest_place(city: City, lat: float, lon: float) -> Place:
    """The road segment or sensor nearest to a point picked on the map, placed at the point itself."""
    best: tuple[float, str] | None = None
    for segment in city.segments.values():
        d = min(distance_m(lat, lon, a, b) for a, b in segment.coords)
        if best is None or d < best[0]:
            best = (d, segment.id)
    for sensor in city.sensors.values():
        d = distance_m(lat, lon, sensor.lat, sensor.lon)
        if best is None or d < best[0]:
            best = (d, sensor.id)
    if best is None:
        return Place("map", "sensor", f"{lat:.5f}, {lon:.5f}", None, lat, lon)
    found = place_of(city, best[1])
    return Place(found.id, found.kind, found.name, found.ward, lat, lon)


def nearest_cameras(city: City, lat: float, lon: float, count: int = NEAREST_CAMERAS) -> list[str]:
    """The ids of the `count` cameras nearest to a point, nearest first."""
    cameras = [s for s in city.sensors.values() if s.kind in CAMERA_KINDS]
    cameras.sort(key=lambda s: (distance_m(lat, lon, s.lat, s.lon), s.id))
    return [s.id for s in cameras[:count]]
