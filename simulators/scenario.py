"""Simulator scenarios as data: day profiles and rates read from `simulators/scenarios/<name>.json` and checked.

A scenario says how an ordinary or extraordinary day unfolds; the engine turns it into events. Format 1, one
JSON object (times are local "HH:MM", hourly profiles are 24 numbers for local hours 0..23):
- `format`, `title`, `description`, `duration_min` (null: runs until stopped), `jitter` (of report intervals);
- `traffic`: `demand_by_hour` {weekday, weekend}, `peaks` [{start, end, ramp_min, boost, weekend_boost}],
  per road class `free_flow_fraction`, `load_range`, `capacity_vph`; `congestion` {alpha, beta};
  `noise` {white, drift, drift_tau_min}; `tag_slowdowns` [{tag, start, end, ramp_min, speed_factor}];
- `violations`: `per_camera_by_hour`, `excess_kmh` [low, high], `excess_mode_kmh`, `vehicle_classes` weights;
- `rain`: `showers_by_hour` (expected city-wide), `intensity_mm_h`, `duration_min`, `radius_km` ranges;
- `water`: tide period, `tide_amplitude_m` {default, <river>: ...}, lag, rain response, noise;
- `wifi`: `usage_by_hour`, `popularity`, `mbps_per_client`, `noise`;
- `outages`: `per_day` [min, max], `duration_min`, `min_missed_reports`, `announce_probability`,
  `fault_share`, detail texts;
- `episodes`: timed events [{kind, at_min, duration_min, ...}], the extension point for floods, crashes and
  outages (no kind is implemented yet; a new kind is a small engine feature plus data).
A scenario may say `"extends": "<other>"` and give only what differs: objects merge key by key, other values
replace the base's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from ioc.city import ROAD_CLASSES, SEGMENT_TAGS
from ioc.events import VehicleClass
from simulators.errors import ScenarioError

SCENARIO_DIR: Final = Path(__file__).parent / "scenarios"
FORMAT_VERSION: Final = 1
VEHICLE_CLASSES: Final = ("motorbike", "car", "truck", "bus")
# Episode kinds the engine implements; a later scenario (flood, crash, outage) adds its kind here and in the engine.
EPISODE_KINDS: Final[frozenset[str]] = frozenset()
_MAX_EXTENDS_DEPTH: Final = 8


@dataclass(frozen=True)
class HourlyProfile:
    """24 values, one per local hour, read as the value at the middle of the hour and interpolated in between."""

    values: tuple[float, ...]

    def at(self, seconds_of_day: float) -> float:
        """The profile at a local time of day (seconds since midnight), wrapping around midnight."""
        position = seconds_of_day / 3600.0 - 0.5
        low = math.floor(position)
        frac = position - low
        return self.values[low % 24] * (1.0 - frac) + self.values[(low + 1) % 24] * frac

    @property
    def peak(self) -> float:
        """The largest value, a bound for thinning Poisson processes."""
        return max(self.values)


@dataclass(frozen=True)
class Window:
    """A daily local-time window with smooth ramps of `ramp_s` outside each edge (weight 1 inside, 0 far away)."""

    start_s: float
    end_s: float
    ramp_s: float

    def weight(self, seconds_of_day: float) -> float:
        """How much the window applies at a local time of day, 0..1 with raised-cosine edges."""
        if self.start_s <= seconds_of_day <= self.end_s:
            return 1.0
        if self.ramp_s <= 0:
            return 0.0
        distance = self.start_s - seconds_of_day if seconds_of_day < self.start_s else seconds_of_day - self.end_s
        if distance >= self.ramp_s:
            return 0.0
        return 0.5 * (1.0 + math.cos(math.pi * distance / self.ramp_s))


@dataclass(frozen=True)
class Range:
    """A closed interval to draw uniformly from."""

    low: float
    high: float


@dataclass(frozen=True)
class Peak:
    """A rush hour: extra demand on top of the hourly base, full inside the window."""

    window: Window
    boost: float
    weekend_boost: float


@dataclass(frozen=True)
class TagSlowdown:
    """Segments with a tag (market, school...) run slower in a daily window, e.g. morning market hours."""

    tag: str
    window: Window
    speed_factor: float


@dataclass(frozen=True)
class TrafficProfile:
    """Road demand through the day and how each road class responds to it."""

    weekday_demand: HourlyProfile
    weekend_demand: HourlyProfile
    peaks: tuple[Peak, ...]
    free_flow_fraction: Mapping[str, float]  # of the speed limit, per road class
    load_range: Mapping[str, Range]  # how busy segments of a class are relative to their capacity at demand 1
    capacity_vph: Mapping[str, float]  # vehicles per hour (mostly motorbikes) at demand 1, per road class
    congestion_alpha: float  # speed = free flow / (1 + alpha * (demand * load) ** beta), a BPR-style curve
    congestion_beta: float
    noise_white: float  # relative noise of each observation
    noise_drift: float  # relative size of a slowly wandering per-segment deviation
    drift_tau_s: float
    tag_slowdowns: tuple[TagSlowdown, ...]
    min_speed_kmh: float


@dataclass(frozen=True)
class ViolationProfile:
    """Speed violations per speed camera: a Poisson rate by hour, how far over the limit, which vehicles."""

    per_camera_by_hour: HourlyProfile
    excess_kmh: Range
    excess_mode_kmh: float
    vehicle_classes: tuple[tuple[VehicleClass, float], ...]


@dataclass(frozen=True)
class RainProfile:
    """Showers over the city: how often they start by hour, how strong, long and wide they are."""

    showers_by_hour: HourlyProfile  # expected showers starting per hour over the whole city
    intensity_mm_h: Range  # peak intensity at the shower's centre
    duration_min: Range
    radius_km: Range


@dataclass(frozen=True)
class WaterProfile:
    """Water levels: tide (amplitude per river) and a slow, lagged response to recent rain."""

    tide_period_h: float
    tide_amplitude_m: float
    tide_amplitude_by_river_m: Mapping[str, float]
    diurnal_ratio: float  # size of the daily tidal inequality relative to the semi-diurnal wave
    tide_lag_h: Range  # per-station phase lag of the tide
    rain_response_m_per_mm: float
    rain_rise_h: float
    rain_memory_h: float
    noise_m: float


@dataclass(frozen=True)
class WifiProfile:
    """Public wifi use through the day, scaled by each hotspot's capacity and popularity."""

    usage_by_hour: HourlyProfile  # share of capacity in use at a hotspot of popularity 1
    popularity: Range
    mbps_per_client: Range
    noise: float


@dataclass(frozen=True)
class OutageProfile:
    """Devices dropping offline and coming back: how many per day, how long, how they announce it."""

    per_day: Range  # whole number of outages per local day, drawn uniformly in the range
    duration_min: Range
    min_missed_reports: int  # an outage always lasts at least this many report intervals of the device
    announce_probability: float  # chance the device says "offline" or "fault" before it goes quiet
    fault_share: float  # of announced outages, the share reported as "fault" rather than "offline"
    offline_details: tuple[str, ...]
    fault_details: tuple[str, ...]
    online_details: tuple[str, ...]


@dataclass(frozen=True)
class Episode:
    """A timed event in a scenario (a flood, a crash, an outage), starting `at_s` after the simulation start."""

    kind: str
    at_s: float
    duration_s: float
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Scenario:
    """Everything the engine needs to simulate one scenario."""

    name: str
    title: str
    description: str
    duration_s: float | None  # None: the scenario runs until stopped
    jitter: float  # relative jitter of each report interval
    traffic: TrafficProfile
    violations: ViolationProfile
    rain: RainProfile
    water: WaterProfile
    wifi: WifiProfile
    outages: OutageProfile
    episodes: tuple[Episode, ...]


class _Reader:
    """Typed access to one JSON object of a scenario file, raising ScenarioError that names the file and field."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(f"{where}: expected an object")
        self.data: dict[str, Any] = data
        self.where = where

    def fail(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.where}.{key}: {message}")

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise ScenarioError(f"{self.where}: missing {key!r}")
        return self.data[key]

    def section(self, key: str) -> _Reader:
        return _Reader(self.raw(key), f"{self.where}.{key}")

    def number(self, key: str, low: float = -math.inf, high: float = math.inf, default: float | None = None) -> float:
        value = self.data.get(key, default) if default is not None else self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(key, f"expected a number, got {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"{value} is outside {low}..{high}")
        return float(value)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default) if default is not None else self.raw(key)
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {value!r}")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.raw(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "expected a non-empty list of strings")
        return tuple(value)

    def profile(self, key: str, high: float = math.inf) -> HourlyProfile:
        value = self.raw(key)
        if not isinstance(value, list) or len(value) != 24:
            raise self.fail(key, "expected 24 numbers, one per local hour 0..23")
        for hour, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int | float) or not 0 <= item <= high:
                raise self.fail(key, f"hour {hour}: expected a number in 0..{high}, got {item!r}")
        return HourlyProfile(tuple(float(v) for v in value))

    def range(self, key: str, low: float = 0.0, high: float = math.inf) -> Range:
        value = self.raw(key)
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            raise self.fail(key, f"expected [low, high], got {value!r}")
        if not low <= value[0] <= value[1] <= high:
            raise self.fail(key, f"expected {low} <= low <= high <= {high}, got {value!r}")
        return Range(float(value[0]), float(value[1]))

    def per_class(self, key: str, low: float, high: float) -> dict[str, float]:
        section = self.section(key)
        for name in section.data:
            if name not in ROAD_CLASSES:
                raise section.fail(name, f"unknown road class (known: {', '.join(ROAD_CLASSES)})")
        return {name: section.number(name, low, high) for name in ROAD_CLASSES}

    def window(self) -> Window:
        start = _clock(self, "start")
        end = _clock(self, "end")
        if end <= start:
            raise self.fail("end", "must be later than start (windows do not cross midnight)")
        return Window(start, end, self.number("ramp_min", 0, 180, default=30) * 60.0)


def _clock(reader: _Reader, key: str) -> float:
    """A local time "HH:MM" as seconds since midnight."""
    value = reader.text(key)
    hours, sep, minutes = value.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or int(hours) > 24 or int(minutes) > 59:
        raise reader.fail(key, f"expected a local time HH:MM, got {value!r}")
    seconds = int(hours) * 3600 + int(minutes) * 60
    if seconds > 86_400:
        raise reader.fail(key, f"{value!r} is after midnight")
    return float(seconds)


def _traffic(r: _Reader) -> TrafficProfile:
    demand = r.section("demand_by_hour")
    weekday = demand.profile("weekday", high=5)
    weekend = demand.profile("weekend", high=5) if "weekend" in demand.data else weekday
    peaks = []
    for i, raw in enumerate(r.raw("peaks")):
        p = _Reader(raw, f"{r.where}.peaks[{i}]")
        peaks.append(Peak(p.window(), p.number("boost", 0, 5), p.number("weekend_boost", 0, 5, default=0)))
    load = r.section("load_range")
    for name in load.data:
        if name not in ROAD_CLASSES:
            raise load.fail(name, f"unknown road class (known: {', '.join(ROAD_CLASSES)})")
    slowdowns = []
    for i, raw in enumerate(r.raw("tag_slowdowns")):
        s = _Reader(raw, f"{r.where}.tag_slowdowns[{i}]")
        tag = s.text("tag")
        if tag not in SEGMENT_TAGS:
            raise s.fail("tag", f"unknown segment tag {tag!r} (known: {', '.join(SEGMENT_TAGS)})")
        slowdowns.append(TagSlowdown(tag, s.window(), s.number("speed_factor", 0.05, 1.5)))
    congestion = r.section("congestion")
    noise = r.section("noise")
    return TrafficProfile(
        weekday_demand=weekday,
        weekend_demand=weekend,
        peaks=tuple(peaks),
        free_flow_fraction=r.per_class("free_flow_fraction", 0.1, 1.2),
        load_range={name: load.range(name, 0, 5) for name in ROAD_CLASSES},
        capacity_vph=r.per_class("capacity_vph", 0, 50_000),
        congestion_alpha=congestion.number("alpha", 0, 100),
        congestion_beta=congestion.number("beta", 0.5, 10),
        noise_white=noise.number("white", 0, 0.5),
        noise_drift=noise.number("drift", 0, 0.5),
        drift_tau_s=noise.number("drift_tau_min", 1, 24 * 60) * 60.0,
        tag_slowdowns=tuple(slowdowns),
        min_speed_kmh=r.number("min_speed_kmh", 0, 50),
    )


def _violations(r: _Reader) -> ViolationProfile:
    excess = r.range("excess_kmh", 0.1, 150)
    mode = r.number("excess_mode_kmh", excess.low, excess.high)
    classes = r.section("vehicle_classes")
    for name in classes.data:
        if name not in VEHICLE_CLASSES:
            raise classes.fail(name, f"unknown vehicle class (known: {', '.join(VEHICLE_CLASSES)})")
    weights = tuple((cast(VehicleClass, name), classes.number(name, 0, 1e6)) for name in classes.data)
    if not weights or sum(w for _, w in weights) <= 0:
        raise classes.fail("*", "needs at least one positive weight")
    return ViolationProfile(r.profile("per_camera_by_hour", high=100), excess, mode, weights)


def _rain(r: _Reader) -> RainProfile:
    return RainProfile(
        showers_by_hour=r.profile("showers_by_hour", high=20),
        intensity_mm_h=r.range("intensity_mm_h", 0, 300),
        duration_min=r.range("duration_min", 1, 24 * 60),
        radius_km=r.range("radius_km", 0.1, 200),
    )


def _water(r: _Reader) -> WaterProfile:
    tide = r.section("tide_amplitude_m")
    by_river = {name: tide.number(name, 0, 5) for name in tide.data if name != "default"}
    return WaterProfile(
        tide_period_h=r.number("tide_period_h", 1, 48),
        tide_amplitude_m=tide.number("default", 0, 5),
        tide_amplitude_by_river_m=by_river,
        diurnal_ratio=r.number("diurnal_ratio", 0, 2),
        tide_lag_h=r.range("tide_lag_h", 0, 24),
        rain_response_m_per_mm=r.number("rain_response_m_per_mm", 0, 1),
        rain_rise_h=r.number("rain_rise_h", 0.01, 240),
        rain_memory_h=r.number("rain_memory_h", 0.01, 24 * 30),
        noise_m=r.number("noise_m", 0, 1),
    )


def _wifi(r: _Reader) -> WifiProfile:
    return WifiProfile(
        usage_by_hour=r.profile("usage_by_hour", high=1),
        popularity=r.range("popularity", 0, 1),
        mbps_per_client=r.range("mbps_per_client", 0, 1000),
        noise=r.number("noise", 0, 1),
    )


def _outages(r: _Reader) -> OutageProfile:
    per_day = r.range("per_day", 0, 10_000)
    if per_day.low != int(per_day.low) or per_day.high != int(per_day.high):
        raise r.fail("per_day", "expected whole numbers")
    return OutageProfile(
        per_day=per_day,
        duration_min=r.range("duration_min", 0.1, 7 * 24 * 60),
        min_missed_reports=int(r.number("min_missed_reports", 0, 100)),
        announce_probability=r.number("announce_probability", 0, 1),
        fault_share=r.number("fault_share", 0, 1),
        offline_details=r.texts("offline_details"),
        fault_details=r.texts("fault_details"),
        online_details=r.texts("online_details"),
    )


def _episodes(r: _Reader) -> tuple[Episode, ...]:
    raw = r.data.get("episodes", [])
    if not isinstance(raw, list):
        raise r.fail("episodes", "expected a list")
    episodes = []
    for i, item in enumerate(raw):
        e = _Reader(item, f"{r.where}.episodes[{i}]")
        kind = e.text("kind")
        if kind not in EPISODE_KINDS:
            known = ", ".join(sorted(EPISODE_KINDS)) or "none yet"
            raise e.fail("kind", f"unknown episode kind {kind!r} (this engine implements: {known})")
        params = {k: v for k, v in e.data.items() if k not in ("kind", "at_min", "duration_min")}
        episodes.append(
            Episode(kind, e.number("at_min", 0) * 60.0, e.number("duration_min", 0, default=0) * 60.0, params)
        )
    return tuple(episodes)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Objects merge key by key; anything else (numbers, lists) in the override replaces the base."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read(name: str, directory: Path, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """A scenario file's JSON with everything it `extends` merged underneath."""
    path = directory / f"{name}.json"
    if not path.is_file():
        available = ", ".join(list_scenarios(directory)) or "none"
        raise ScenarioError(f"unknown scenario {name!r} (available: {available})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path.name}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path.name}: expected a JSON object")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(f"{path.name}: 'extends' must name a scenario")
    if parent in chain or len(chain) >= _MAX_EXTENDS_DEPTH:
        raise ScenarioError(f"{path.name}: 'extends' loops: {' -> '.join((*chain, name, parent))}")
    return _merge(_read(parent, directory, (*chain, name)), data)


def list_scenarios(directory: Path | None = None) -> list[str]:
    """Names of the scenarios shipped (or found in `directory`), sorted, for the CLI and error messages."""
    folder = directory if directory is not None else SCENARIO_DIR
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*.json"))


def load_scenario(name: str, directory: Path | None = None) -> Scenario:
    """Read and check one scenario by name; raise ScenarioError naming the file and field at fault."""
    folder = directory if directory is not None else SCENARIO_DIR
    if not name or "/" in name or "\\" in name or name.startswith("."):
        available = ", ".join(list_scenarios(folder)) or "none"
        raise ScenarioError(f"invalid scenario name {name!r} (available: {available})")
    r = _Reader(_read(name, folder), f"{name}.json")
    version = r.number("format", 1, 1_000)
    if version != FORMAT_VERSION:
        raise r.fail("format", f"this engine reads scenario format {FORMAT_VERSION}, got {version:g}")
    duration = r.data.get("duration_min")
    return Scenario(
        name=name,
        title=r.text("title"),
        description=r.text("description", default=""),
        duration_s=None if duration is None else r.number("duration_min", 1) * 60.0,
        jitter=r.number("jitter", 0, 0.5),
        traffic=_traffic(r.section("traffic")),
        violations=_violations(r.section("violations")),
        rain=_rain(r.section("rain")),
        water=_water(r.section("water")),
        wifi=_wifi(r.section("wifi")),
        outages=_outages(r.section("outages")),
        episodes=_episodes(r),
    )
