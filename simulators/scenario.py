"""Simulator scenarios as data: `simulators/scenarios/<name>.yaml` (or `.json`), merged along `extends`, checked.

A scenario says how an ordinary or extraordinary day unfolds; the engine turns it into events. Format 1, one
mapping in YAML (comments welcome; read with YAML 1.2 core rules, see simulators/sources.py) or JSON. Times are
local "HH:MM", hourly profiles are 24 numbers for local hours 0..23:
- `format`, `title`, `description`, `duration_min` (null: runs until stopped), `jitter` (of report intervals),
  `start` (optional: the local date and time it is meant to begin, e.g. "2022-10-09T00:00");
- `traffic`: `demand_by_hour` {weekday, weekend}, `peaks` [{start, end, ramp_min, boost, weekend_boost}],
  per road class `free_flow_fraction`, `load_range`, `capacity_vph`; `congestion` {alpha, beta};
  `noise` {white, drift, drift_tau_min}; `tag_slowdowns` [{tag, start, end, ramp_min, speed_factor}];
- `violations`: `per_camera_by_hour`, `excess_kmh` [low, high], `excess_mode_kmh`, `vehicle_classes` weights;
- `rain`: `showers_by_hour` (expected city-wide), `intensity_mm_h`, `duration_min`, `radius_km` ranges;
- `water`: tide period, `tide_amplitude_m` {default, <river>: ...}, lag, rain response, noise;
- `wifi`: `usage_by_hour`, `popularity`, `mbps_per_client`, `noise`;
- `outages`: `per_day` [min, max], `duration_min`, `min_missed_reports`, `announce_probability`,
  `fault_share`, detail texts;
- `episodes`: timed happenings [{kind, at_min, duration_min, id?, title?, ...}]: `flood`, `crash`,
  `camera_outage`, `sensor_fault`, `alarm_storm`, one pydantic model each (simulators/episodes.py);
- `msel`: a training exercise's master scenario events list, `objectives` and `injects` (messages to the trainees
  or events, the responses expected and the contingencies when they are late; `ioc/exercises/msel.py`). An inject's
  inline episode is played with the scenario's episodes (wherever it plays), from the inject's `at_min`.
A scenario may say `extends: <other>` and give only what differs: mappings merge key by key, other values (numbers,
lists such as `episodes`) replace the base's. The merged data is checked by its pydantic model (`ScenarioFile`, a
model per section; with a city, the ids episodes name are checked against it too) and turned into the engine's
frozen dataclasses; a mistake is a ScenarioError with one line per problem, `<file>:<line>: <field>: <what>`, the
file being the one in the chain that wrote the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Generic, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ioc.city import ROAD_CLASSES, SEGMENT_TAGS, City
from ioc.events import VehicleClass
from ioc.exercises.msel import Msel
from simulators.episodes import Episode, unique_ids
from simulators.errors import ScenarioError
from simulators.fields import Num, Pair, custom
from simulators.sources import SUFFIXES, Located, display_name, located_line, merge, problem_lines, read_file

SCENARIO_DIR: Final = Path(__file__).parent / "scenarios"
FORMAT_VERSION: Final = 1
VEHICLE_CLASSES: Final = ("motorbike", "car", "truck", "bus")
_MAX_EXTENDS_DEPTH: Final = 8
T = TypeVar("T")


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
    episodes: tuple[Episode, ...]  # the validated episode models (simulators/episodes.py), in file order
    start: datetime | None = None  # when the scenario is meant to begin (naive: the city's local time)
    msel: Msel[Any] | None = None  # a training exercise's injects and expected responses (ioc/exercises/msel.py)


# -- the file's shape -----------------------------------------------------------------------------------------------
# One pydantic model per object of a scenario file; numbers are strict (a string or true is not a number) and
# finite. A ValidationError becomes a ScenarioError naming the file, line and field (simulators/sources.py).


def _24_numbers(value: object) -> object:
    if not isinstance(value, list) or len(value) != 24:
        raise custom("profile", "expected 24 numbers, one per local hour 0..23")
    return value


Profile = Annotated[list[Num], BeforeValidator(_24_numbers)]  # one number per local hour 0..23


def _hours_within(high: float) -> AfterValidator:
    """A profile's values lie in 0..high."""

    def check(values: list[float]) -> list[float]:
        for hour, value in enumerate(values):
            if not 0 <= value <= high:
                raise custom("profile", f"hour {hour}: expected a number in 0..{high:g}, got {value:g}")
        return values

    return AfterValidator(check)


def _between(low: float, high: float = math.inf) -> AfterValidator:
    """A [low, high] pair ordered and within the bounds."""

    def check(value: tuple[float, float]) -> tuple[float, float]:
        if not low <= value[0] <= value[1] <= high:
            raise custom("range", f"expected {low:g} <= low <= high <= {high:g}, got {list(value)!r}")
        return value

    return AfterValidator(check)


def _clock(value: object) -> float:
    """A local time "HH:MM" as seconds since midnight."""
    if not isinstance(value, str):
        raise custom("clock", f"expected a local time HH:MM, got {value!r}")
    hours, sep, minutes = value.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or int(hours) > 24 or int(minutes) > 59:
        raise custom("clock", f"expected a local time HH:MM, got {value!r}")
    seconds = int(hours) * 3600 + int(minutes) * 60
    if seconds > 86_400:
        raise custom("clock", f"{value!r} is after midnight")
    return float(seconds)


def _texts(value: object) -> object:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise custom("texts", "expected a non-empty list of strings")
    return value


def _segment_tag(tag: str) -> str:
    if tag not in SEGMENT_TAGS:
        raise custom("tag", f"unknown segment tag {tag!r} (known: {', '.join(SEGMENT_TAGS)})")
    return tag


Clock = Annotated[float, PlainValidator(_clock)]
Texts = Annotated[tuple[StrictStr, ...], BeforeValidator(_texts)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True)  # keys it does not know are ignored


class WindowData(_Section):
    """A daily local-time window: start and end "HH:MM" (not crossing midnight), ramps outside each edge."""

    start: Clock
    end: Clock
    ramp_min: Num = Field(30.0, ge=0, le=180)

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end <= self.start:
            raise custom("window", "end must be later than start (windows do not cross midnight)")
        return self

    def window(self) -> Window:
        """The window in seconds of the day."""
        return Window(self.start, self.end, self.ramp_min * 60.0)


class PeakData(WindowData):
    """A rush hour."""

    boost: Num = Field(ge=0, le=5)
    weekend_boost: Num = Field(0.0, ge=0, le=5)


class TagSlowdownData(WindowData):
    """Segments with a tag run slower in a daily window."""

    tag: Annotated[StrictStr, AfterValidator(_segment_tag)]
    speed_factor: Num = Field(ge=0.05, le=1.5)


class PerClass(_Section, Generic[T]):
    """One value per road class, every class given and no other."""

    expressway: T
    national: T
    arterial: T
    collector: T

    @model_validator(mode="before")
    @classmethod
    def _known_classes(cls, data: object) -> object:
        if isinstance(data, dict):
            for name in data:
                if name not in ROAD_CLASSES:
                    raise custom("road_class", f"{name!r}: unknown road class (known: {', '.join(ROAD_CLASSES)})")
        return data

    def by_class(self) -> dict[str, T]:
        """The values keyed by road class."""
        return {name: getattr(self, name) for name in ROAD_CLASSES}


class DemandData(_Section):
    """Road demand by local hour; the weekend's is the weekday's unless given."""

    weekday: Annotated[Profile, _hours_within(5)]
    weekend: Annotated[Profile, _hours_within(5)] | None = None


class CongestionData(_Section):
    """speed = free flow / (1 + alpha * (demand * load) ** beta), a BPR-style curve."""

    alpha: Num = Field(ge=0, le=100)
    beta: Num = Field(ge=0.5, le=10)


class TrafficNoiseData(_Section):
    """Relative noise of each observation and a slowly wandering per-segment deviation."""

    white: Num = Field(ge=0, le=0.5)
    drift: Num = Field(ge=0, le=0.5)
    drift_tau_min: Num = Field(ge=1, le=24 * 60)


class TrafficData(_Section):
    """The `traffic` section."""

    demand_by_hour: DemandData
    peaks: list[PeakData]
    free_flow_fraction: PerClass[Annotated[Num, Field(ge=0.1, le=1.2)]]
    load_range: PerClass[Annotated[Pair, _between(0, 5)]]
    capacity_vph: PerClass[Annotated[Num, Field(ge=0, le=50_000)]]
    congestion: CongestionData
    noise: TrafficNoiseData
    tag_slowdowns: list[TagSlowdownData]
    min_speed_kmh: Num = Field(ge=0, le=50)


class ViolationsData(_Section):
    """The `violations` section."""

    per_camera_by_hour: Annotated[Profile, _hours_within(100)]
    excess_kmh: Annotated[Pair, _between(0.1, 150)]
    excess_mode_kmh: Num = Field()
    vehicle_classes: Annotated[
        dict[VehicleClass, Annotated[Num, Field(ge=0, le=1e6)]],
        BeforeValidator(_known_vehicle_classes),
        AfterValidator(_some_weight),
    ]

    @model_validator(mode="after")
    def _mode_in_range(self) -> Self:
        low, high = self.excess_kmh
        if not low <= self.excess_mode_kmh <= high:
            raise custom("mode", f"excess_mode_kmh: {self.excess_mode_kmh:g} is outside {low:g}..{high:g}")
        return self


def _known_vehicle_classes(value: object) -> object:
    for name in value if isinstance(value, dict) else ():
        if name not in VEHICLE_CLASSES:
            raise custom("vehicle", f"{name!r}: unknown vehicle class (known: {', '.join(VEHICLE_CLASSES)})")
    return value


def _some_weight(weights: dict[VehicleClass, float]) -> dict[VehicleClass, float]:
    if sum(weights.values()) <= 0:
        raise custom("weights", "needs at least one positive weight")
    return weights


class RainData(_Section):
    """The `rain` section."""

    showers_by_hour: Annotated[Profile, _hours_within(20)]
    intensity_mm_h: Annotated[Pair, _between(0, 300)]
    duration_min: Annotated[Pair, _between(1, 24 * 60)]
    radius_km: Annotated[Pair, _between(0.1, 200)]


def _with_default(amplitudes: dict[str, float]) -> dict[str, float]:
    if "default" not in amplitudes:
        raise custom("default", "missing 'default' (rivers not named take it)")
    return amplitudes


class WaterData(_Section):
    """The `water` section; `tide_amplitude_m` has a `default` and may name rivers."""

    tide_period_h: Num = Field(ge=1, le=48)
    tide_amplitude_m: Annotated[dict[str, Annotated[Num, Field(ge=0, le=5)]], AfterValidator(_with_default)]
    diurnal_ratio: Num = Field(ge=0, le=2)
    tide_lag_h: Annotated[Pair, _between(0, 24)]
    rain_response_m_per_mm: Num = Field(ge=0, le=1)
    rain_rise_h: Num = Field(ge=0.01, le=240)
    rain_memory_h: Num = Field(ge=0.01, le=24 * 30)
    noise_m: Num = Field(ge=0, le=1)


class WifiData(_Section):
    """The `wifi` section."""

    usage_by_hour: Annotated[Profile, _hours_within(1)]
    popularity: Annotated[Pair, _between(0, 1)]
    mbps_per_client: Annotated[Pair, _between(0, 1000)]
    noise: Num = Field(ge=0, le=1)


def _whole(pair: tuple[float, float]) -> tuple[float, float]:
    if any(value != int(value) for value in pair):
        raise custom("whole", "expected whole numbers")
    return pair


class OutagesData(_Section):
    """The `outages` section."""

    per_day: Annotated[Pair, _between(0, 10_000), AfterValidator(_whole)]
    duration_min: Annotated[Pair, _between(0.1, 7 * 24 * 60)]
    min_missed_reports: Num = Field(ge=0, le=100)
    announce_probability: Num = Field(ge=0, le=1)
    fault_share: Num = Field(ge=0, le=1)
    offline_details: Texts
    fault_details: Texts
    online_details: Texts


def _local_datetime(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise custom("start", f"expected a date and time such as 2022-10-09T00:00 (local), got {value!r}") from None
    return value


class ScenarioFile(_Section):
    """A scenario file (format 1), after what it extends is merged underneath."""

    format: Num = Field(ge=1, le=1_000)
    title: StrictStr
    description: StrictStr = ""
    duration_min: Annotated[Num, Field(ge=1)] | None = None
    jitter: Num = Field(ge=0, le=0.5)
    traffic: TrafficData
    violations: ViolationsData
    rain: RainData
    water: WaterData
    wifi: WifiData
    outages: OutagesData
    start: Annotated[StrictStr, AfterValidator(_local_datetime)] | None = None
    episodes: list[Episode] = []
    msel: Msel[Episode] | None = None

    @field_validator("episodes")
    @classmethod
    def _unique_ids(cls, episodes: list[Episode]) -> list[Episode]:
        unique_ids(episodes)
        return episodes

    @field_validator("format")
    @classmethod
    def _known_format(cls, version: float) -> float:
        if version != FORMAT_VERSION:
            raise custom("format", f"this engine reads scenario format {FORMAT_VERSION}, got {version:g}")
        return version


# -- the engine's form -------------------------------------------------------------------------------------------


def _scenario(name: str, data: ScenarioFile) -> Scenario:
    """The engine's form of a validated scenario file: times in seconds, profiles and ranges as their types."""
    traffic, violations, rain, water, wifi, outages = (
        data.traffic,
        data.violations,
        data.rain,
        data.water,
        data.wifi,
        data.outages,
    )
    weekday = HourlyProfile(tuple(traffic.demand_by_hour.weekday))
    weekend = traffic.demand_by_hour.weekend
    return Scenario(
        name=name,
        title=data.title,
        description=data.description,
        duration_s=None if data.duration_min is None else data.duration_min * 60.0,
        jitter=data.jitter,
        traffic=TrafficProfile(
            weekday_demand=weekday,
            weekend_demand=weekday if weekend is None else HourlyProfile(tuple(weekend)),
            peaks=tuple(Peak(p.window(), p.boost, p.weekend_boost) for p in traffic.peaks),
            free_flow_fraction=traffic.free_flow_fraction.by_class(),
            load_range={name: Range(*pair) for name, pair in traffic.load_range.by_class().items()},
            capacity_vph=traffic.capacity_vph.by_class(),
            congestion_alpha=traffic.congestion.alpha,
            congestion_beta=traffic.congestion.beta,
            noise_white=traffic.noise.white,
            noise_drift=traffic.noise.drift,
            drift_tau_s=traffic.noise.drift_tau_min * 60.0,
            tag_slowdowns=tuple(TagSlowdown(s.tag, s.window(), s.speed_factor) for s in traffic.tag_slowdowns),
            min_speed_kmh=traffic.min_speed_kmh,
        ),
        violations=ViolationProfile(
            HourlyProfile(tuple(violations.per_camera_by_hour)),
            Range(*violations.excess_kmh),
            violations.excess_mode_kmh,
            tuple(violations.vehicle_classes.items()),
        ),
        rain=RainProfile(
            showers_by_hour=HourlyProfile(tuple(rain.showers_by_hour)),
            intensity_mm_h=Range(*rain.intensity_mm_h),
            duration_min=Range(*rain.duration_min),
            radius_km=Range(*rain.radius_km),
        ),
        water=WaterProfile(
            tide_period_h=water.tide_period_h,
            tide_amplitude_m=water.tide_amplitude_m["default"],
            tide_amplitude_by_river_m={k: v for k, v in water.tide_amplitude_m.items() if k != "default"},
            diurnal_ratio=water.diurnal_ratio,
            tide_lag_h=Range(*water.tide_lag_h),
            rain_response_m_per_mm=water.rain_response_m_per_mm,
            rain_rise_h=water.rain_rise_h,
            rain_memory_h=water.rain_memory_h,
            noise_m=water.noise_m,
        ),
        wifi=WifiProfile(
            usage_by_hour=HourlyProfile(tuple(wifi.usage_by_hour)),
            popularity=Range(*wifi.popularity),
            mbps_per_client=Range(*wifi.mbps_per_client),
            noise=wifi.noise,
        ),
        outages=OutageProfile(
            per_day=Range(*outages.per_day),
            duration_min=Range(*outages.duration_min),
            min_missed_reports=int(outages.min_missed_reports),
            announce_probability=outages.announce_probability,
            fault_share=outages.fault_share,
            offline_details=outages.offline_details,
            fault_details=outages.fault_details,
            online_details=outages.online_details,
        ),
        episodes=(*data.episodes, *inline_episodes(data.msel)),
        start=None if data.start is None else datetime.fromisoformat(data.start),
        msel=data.msel,
    )


def inline_episodes(msel: Msel[Episode] | None) -> list[Episode]:
    """The episodes an MSEL gives inline: played with the scenario's own, each from its inject's `at_min`."""
    if msel is None:
        return []
    return [i.episode for i in msel.injects if i.episode is not None and not isinstance(i.episode, str)]


def _find(name: str, folders: tuple[Path, ...]) -> Path:
    """The file of a scenario name in the first folder that has one (YAML or JSON, never both)."""
    for folder in folders:
        found = [folder / f"{name}{suffix}" for suffix in SUFFIXES if (folder / f"{name}{suffix}").is_file()]
        if len(found) > 1:
            raise ScenarioError(f"scenario {name!r} is given twice: {', '.join(p.name for p in found)}; keep one")
        if found:
            return found[0]
    available = ", ".join(list_scenarios(folders[0])) or "none"
    raise ScenarioError(f"unknown scenario {name!r} (available: {available})")


def _read(path: Path, folders: tuple[Path, ...], chain: tuple[str, ...] = ()) -> Located:
    """A scenario file with everything it `extends` merged underneath, and where each value was written."""
    located = read_file(path)
    data = dict(located.data)
    parent = data.pop("extends", None)
    located = Located(data, located.file, {loc: o for loc, o in located.origins.items() if loc[:1] != ("extends",)})
    if parent is None:
        return located
    where = located.origins.get(("extends",)) or f"{located.file}:1"
    if not isinstance(parent, str) or not _valid_name(parent):
        raise ScenarioError(f"{where}: extends: expected the name of another scenario, got {parent!r}")
    name = path.stem
    if parent in (*chain, name) or len(chain) >= _MAX_EXTENDS_DEPTH:
        raise ScenarioError(f"{where}: extends: loops: {' -> '.join((*chain, name, parent))}")
    return merge(_read(_find(parent, folders), folders, (*chain, name)), located)


def _valid_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def _folders(directory: Path | None) -> tuple[Path, ...]:
    return (directory,) if directory is not None else (SCENARIO_DIR,)


def list_scenarios(directory: Path | None = None) -> list[str]:
    """Names of the scenarios shipped (or found in `directory`), sorted, for the CLI and error messages."""
    folder = directory if directory is not None else SCENARIO_DIR
    if not folder.is_dir():
        return []
    return sorted({path.stem for suffix in SUFFIXES for path in folder.glob(f"*{suffix}")})


def _checked(located: Located, name: str, city: City | None) -> Scenario:
    try:
        data = ScenarioFile.model_validate(located.data, context={"city": city} if city is not None else None)
    except ValidationError as exc:
        raise ScenarioError("\n".join(problem_lines(located, exc))) from None
    if data.msel is not None:
        named = [e.id for e in data.episodes if e.id is not None]
        problems = data.msel.reference_problems(named)
        if problems:
            raise ScenarioError("\n".join(located_line(located, ("msel", *loc), what) for loc, what in problems))
    return _scenario(name, data)


def scenario_path(name: str, directory: Path | None = None) -> Path:
    """The file a scenario name is read from; ScenarioError for a bad or unknown name."""
    folders = _folders(directory)
    if not _valid_name(name):
        available = ", ".join(list_scenarios(folders[0])) or "none"
        raise ScenarioError(f"invalid scenario name {name!r} (available: {available})")
    return _find(name, folders)


def merged_scenario(name: str, directory: Path | None = None) -> dict[str, Any]:
    """A scenario's data with what it extends merged underneath, as written (times as "HH:MM"), unchecked."""
    return _read(scenario_path(name, directory), _folders(directory)).data


def load_scenario(name: str, directory: Path | None = None, city: City | None = None) -> Scenario:
    """Read and check one scenario by name; ScenarioError naming the file, line and field at fault.

    With a `city`, the ids an episode names (segments, sensors, wards) are checked against it too."""
    folders = _folders(directory)
    return _checked(_read(scenario_path(name, directory), folders), name, city)


def check_file(path: Path, city: City | None = None) -> Scenario:
    """Read and check a scenario file anywhere; what it extends is looked up beside it, then among the shipped."""
    if path.suffix not in SUFFIXES:
        raise ScenarioError(f"{display_name(path)}: a scenario file ends in {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise ScenarioError(f"{display_name(path)}: no such file")
    folders = (path.parent, SCENARIO_DIR) if path.parent.resolve() != SCENARIO_DIR.resolve() else (SCENARIO_DIR,)
    return _checked(_read(path, folders), path.stem, city)


def merged_file(path: Path) -> dict[str, Any]:
    """A scenario file's data with what it extends merged underneath (looked up beside it, then among the shipped)."""
    folders = (path.parent, SCENARIO_DIR) if path.parent.resolve() != SCENARIO_DIR.resolve() else (SCENARIO_DIR,)
    return _read(path, folders).data
