"""The simulation engine: turns a city and a scenario into a deterministic, time-ordered stream of v1 events.

Every sensor is a small process on one heap of next-fire times; each draws from its own `random.Random` seeded
from (seed, sensor id) by a stable hash, so one device's outage never reshuffles the others. Shared fields
(traffic demand, the rain field, the outage plan) are pure functions of (seed, time) or are derived in heap order,
so the same (city, scenario, seed, start) always yields the same events. A scenario's episodes (a flood, a crash,
outages, faults, alarm storms) are asked where they matter through `simulators/effects.py`. Events are built only
from the `ioc.events` models and `encode_event`: whatever the simulator sends, a real sensor could send.
"""

from __future__ import annotations

import heapq
import logging
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from ioc.city import City, Segment, Sensor, distance_km
from ioc.events import (
    DeviceStatus,
    DeviceStatusChanged,
    FloodRainObserved,
    FloodWaterLevelObserved,
    TrafficSpeedObserved,
    TrafficViolationDetected,
    VehicleClass,
    WifiUsageObserved,
    encode_event,
)
from ioc.keys import Domain
from simulators.effects import Effects, StatusNote, stable_seed
from simulators.scenario import OutageProfile, RainProfile, Scenario, TrafficProfile

logger = logging.getLogger(__name__)

# Reference instant for the tide's phase (any fixed instant works; it only has to be the same every run).
_TIDE_EPOCH: Final = 1_767_225_600.0  # 2026-01-01T00:00:00Z
_MAX_INTERVAL_S: Final = 3_600  # the widest observation window a traffic event may carry


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One simulated event: event time (epoch seconds), its domain (raw stream) and its wire fields."""

    at: float
    domain: Domain
    fields: dict[str, str]


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: exact for small means, a rounded normal approximation for large ones."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


class _Clock:
    """Event times in the city's time zone: local time of day, weekends and wire timestamps."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._last_stamp: tuple[float, tuple[float, datetime]] = (math.nan, (math.nan, datetime.min))

    def local(self, at: float) -> datetime:
        return datetime.fromtimestamp(at, self.tz)

    def seconds_of_day(self, at: float) -> tuple[float, bool]:
        """Local seconds since midnight and whether it is a weekend day."""
        t = self.local(at)
        return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6, t.weekday() >= 5

    def stamp(self, at: float) -> tuple[float, datetime]:
        """The event time rounded to the millisecond (what the wire carries) and as an aware local datetime."""
        if at == self._last_stamp[0]:  # a camera's report is several events at one instant
            return self._last_stamp[1]
        ms = round(at * 1000)
        local = datetime.fromtimestamp(ms // 1000, self.tz).replace(microsecond=(ms % 1000) * 1000)
        self._last_stamp = (at, (ms / 1000, local))
        return ms / 1000, local

    def midnight_of(self, at: float) -> float:
        """The local midnight that starts an instant's day."""
        day = self.local(at).date()
        return datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp()

    def midnight_after(self, at: float) -> float:
        """The next local midnight after an instant."""
        day = self.local(at).date() + timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp()


class _Emitter:
    """Collects the events of one heap step, stamping them consistently."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.events: list[SimEvent] = []

    def speed(self, sensor: str, at: float, segment: str, speed: float, vehicles: int, interval_s: int) -> None:
        at, ts = self.clock.stamp(at)
        event = TrafficSpeedObserved(
            v=1,
            type="traffic.speed.observed",
            ts=ts,
            sensor=sensor,
            segment=segment,
            speed_kmh=speed,
            vehicles=vehicles,
            interval_s=interval_s,
        )
        self.events.append(SimEvent(at, "traffic", encode_event(event)))

    def violation(
        self, sensor: str, at: float, segment: str, speed: float, limit: float, vehicle: VehicleClass
    ) -> None:
        at, ts = self.clock.stamp(at)
        event = TrafficViolationDetected(
            v=1,
            type="traffic.violation.detected",
            ts=ts,
            sensor=sensor,
            segment=segment,
            speed_kmh=speed,
            limit_kmh=limit,
            vehicle_class=vehicle,
        )
        self.events.append(SimEvent(at, "traffic", encode_event(event)))

    def water_level(self, sensor: str, at: float, level_m: float) -> None:
        at, ts = self.clock.stamp(at)
        event = FloodWaterLevelObserved(v=1, type="flood.water_level.observed", ts=ts, sensor=sensor, level_m=level_m)
        self.events.append(SimEvent(at, "flood", encode_event(event)))

    def rain(self, sensor: str, at: float, rain_mm: float, interval_s: int) -> None:
        at, ts = self.clock.stamp(at)
        event = FloodRainObserved(
            v=1, type="flood.rain.observed", ts=ts, sensor=sensor, rain_mm=rain_mm, interval_s=interval_s
        )
        self.events.append(SimEvent(at, "flood", encode_event(event)))

    def wifi(self, sensor: str, at: float, clients: int, mbps: float) -> None:
        at, ts = self.clock.stamp(at)
        event = WifiUsageObserved(v=1, type="wifi.usage.observed", ts=ts, sensor=sensor, clients=clients, mbps=mbps)
        self.events.append(SimEvent(at, "wifi", encode_event(event)))

    def status(self, sensor: str, at: float, status: DeviceStatus, detail: str) -> None:
        at, ts = self.clock.stamp(at)
        event = DeviceStatusChanged(
            v=1, type="device.status.changed", ts=ts, sensor=sensor, status=status, detail=detail
        )
        self.events.append(SimEvent(at, "device", encode_event(event)))


class _Traffic:
    """Speeds and counts on the observed segments: hourly demand, peaks, per-segment load and tag slow-downs."""

    def __init__(self, city: City, profile: TrafficProfile, seed: int, effects: Effects) -> None:
        self.profile = profile
        self.effects = effects
        self.segments = city.segments
        observed = sorted({seg for s in city.sensors.values() for seg in s.segments})
        # Loads are spread evenly over each class's range and dealt out by a seeded shuffle, so every seed has a
        # few busy segments (where peaks congest) and quiet ones, just not always the same ones.
        self.load: dict[str, float] = {}
        for road_class, span in profile.load_range.items():
            members = [seg for seg in observed if self.segments[seg].road_class == road_class]
            random.Random(stable_seed(seed, "load", road_class)).shuffle(members)
            for rank, seg in enumerate(members):
                self.load[seg] = span.low + (span.high - span.low) * (rank + 0.5) / len(members)
        self.drift: dict[str, tuple[float, float]] = {}  # segment -> (time, log deviation)
        self._last_demand: tuple[float, bool, float] = (math.nan, False, 0.0)

    def demand(self, sod: float, weekend: bool) -> float:
        """Road demand at a local time of day (1 = a normal weekday peak on a segment of load 1)."""
        if self._last_demand[0] == sod and self._last_demand[1] == weekend:
            return self._last_demand[2]
        p = self.profile
        base = (p.weekend_demand if weekend else p.weekday_demand).at(sod)
        value = base + sum((k.weekend_boost if weekend else k.boost) * k.window.weight(sod) for k in p.peaks)
        self._last_demand = (sod, weekend, value)
        return value

    def ratio(self, segment: Segment, at: float, sod: float, weekend: bool) -> tuple[float, float, float]:
        """The expected share of free-flow speed on a segment, its volume/capacity ratio and the share of that
        volume getting through (episodes: a crash, a flooded road)."""
        p = self.profile
        x = self.demand(sod, weekend) * self.load.get(segment.id, 1.0) * self.effects.demand(at)
        ratio = 1.0 / (1.0 + p.congestion_alpha * x**p.congestion_beta)
        for slowdown in p.tag_slowdowns:
            if slowdown.tag in segment.tags:
                ratio *= 1.0 - (1.0 - slowdown.speed_factor) * slowdown.window.weight(sod)
        speed_share, volume_share = self.effects.traffic(segment.id, at)
        return ratio * speed_share, x, volume_share

    def observe(
        self,
        segment_id: str,
        at: float,
        sod: float,
        weekend: bool,
        interval_s: int,
        rng: random.Random,
        counts: random.Random,
    ) -> tuple[float, int]:
        """One camera observation: mean speed (km/h) and vehicles over the interval.

        Counts draw from their own generator: a Poisson draw takes more or fewer numbers as the flow changes, and
        an episode slowing the flow must not reshuffle the speeds that follow it."""
        p = self.profile
        segment = self.segments[segment_id]
        ratio, x, through = self.ratio(segment, at, sod, weekend)
        last = self.drift.get(segment_id)
        if last is None:
            deviation = rng.gauss(0.0, p.noise_drift)
        else:
            keep = math.exp(-max(0.0, at - last[0]) / p.drift_tau_s)
            deviation = last[1] * keep + rng.gauss(0.0, p.noise_drift * math.sqrt(1.0 - keep * keep))
        self.drift[segment_id] = (at, deviation)
        free = segment.speed_limit_kmh * p.free_flow_fraction[segment.road_class]
        speed = free * ratio * math.exp(deviation) * (1.0 + rng.gauss(0.0, p.noise_white))
        speed = min(max(speed, p.min_speed_kmh), segment.speed_limit_kmh * 1.15)
        flow_vph = p.capacity_vph[segment.road_class] * min(x, 1.1) * through
        vehicles = poisson(counts, flow_vph * interval_s / 3600.0)
        return round(speed, 1), vehicles


@dataclass(frozen=True)
class _Shower:
    """One rain shower: a bell-shaped burst in time over a Gaussian footprint in space."""

    start: float
    end: float
    peak_mm_h: float
    lat: float
    lon: float
    radius_km: float

    def amount_mm(self, lat: float, lon: float, t0: float, t1: float) -> float:
        """Rain at a point between two instants (exact integral of the bell in time)."""
        a, b = max(t0, self.start), min(t1, self.end)
        if a >= b:
            return 0.0
        duration = self.end - self.start
        seconds = (
            duration
            / math.pi
            * (math.cos(math.pi * (a - self.start) / duration) - math.cos(math.pi * (b - self.start) / duration))
        )
        footprint = math.exp(-((distance_km(lat, lon, self.lat, self.lon) / self.radius_km) ** 2))
        return self.peak_mm_h / 3600.0 * seconds * footprint


class _RainField:
    """City-wide rain as showers drawn per clock hour from (seed, hour): correlated across nearby gauges."""

    _CACHE_HOURS: Final = 96

    def __init__(self, city: City, profile: RainProfile, clock: _Clock, seed: int) -> None:
        self.profile = profile
        self.clock = clock
        self.seed = seed
        (self.south, self.west), (self.north, self.east) = city.bbox
        self.hours: dict[int, tuple[_Shower, ...]] = {}

    def _showers(self, hour: int) -> tuple[_Shower, ...]:
        cached = self.hours.get(hour)
        if cached is not None:
            return cached
        p = self.profile
        rng = random.Random(stable_seed(self.seed, "rain", hour))
        sod, _ = self.clock.seconds_of_day(hour * 3600.0 + 1800.0)
        showers = []
        margin = 0.05  # degrees: showers may be centred just outside the city and clip it
        for _ in range(poisson(rng, p.showers_by_hour.at(sod))):
            start = hour * 3600.0 + rng.uniform(0.0, 3600.0)
            showers.append(
                _Shower(
                    start=start,
                    end=start + rng.uniform(p.duration_min.low, p.duration_min.high) * 60.0,
                    peak_mm_h=rng.uniform(p.intensity_mm_h.low, p.intensity_mm_h.high),
                    lat=rng.uniform(self.south - margin, self.north + margin),
                    lon=rng.uniform(self.west - margin, self.east + margin),
                    radius_km=rng.uniform(p.radius_km.low, p.radius_km.high),
                )
            )
        if len(self.hours) >= self._CACHE_HOURS:
            for old in [h for h in self.hours if h < hour - self._CACHE_HOURS // 2]:
                del self.hours[old]
        self.hours[hour] = result = tuple(showers)
        return result

    def amount_mm(self, lat: float, lon: float, t0: float, t1: float) -> float:
        """Rain (mm) at a point between two instants, summed over every shower that touches the interval."""
        first = math.floor((t0 - self.profile.duration_min.high * 60.0) / 3600.0)
        last = math.floor(t1 / 3600.0)
        total = 0.0
        for hour in range(first, last + 1):
            for shower in self._showers(hour):
                total += shower.amount_mm(lat, lon, t0, t1)
        return total


@dataclass(frozen=True)
class _Outage:
    """A planned outage of one device."""

    sensor: str
    start: float
    end: float
    announce: DeviceStatus | None  # "offline" or "fault" if the device says so before going quiet
    detail: str
    back_detail: str


class _World:
    """State shared by all processes: the clock, the models, which devices are down and the output buffer."""

    def __init__(self, city: City, scenario: Scenario, seed: int, start: float) -> None:
        self.city = city
        self.scenario = scenario
        self.seed = seed
        self.start = start
        self.clock = _Clock(ZoneInfo(city.timezone))
        self.out = _Emitter(self.clock)
        self.effects = Effects(city, scenario.episodes, seed, start)
        self.traffic = _Traffic(city, scenario.traffic, seed, self.effects)
        self.rain = _RainField(city, scenario.rain, self.clock, seed)
        self.down_until: dict[str, float] = {}

    def is_down(self, sensor: str, at: float) -> bool:
        return at <= self.down_until.get(sensor, -math.inf)


class _Process(Protocol):
    def fire(self, at: float, world: _World) -> float | None:
        """Emit what is due at `at` into world.out; return when to fire next (None: never again)."""


class _Reporter:
    """A sensor reporting at its interval with small jitter; subclasses say what a report holds."""

    def __init__(self, sensor: Sensor, world: _World) -> None:
        self.sensor = sensor
        self.rng = random.Random(stable_seed(world.seed, "sensor", sensor.id))
        self.interval = float(sensor.report_interval_s)
        self.jitter = world.scenario.jitter

    def first(self, start: float) -> float:
        return start + self.rng.uniform(0.0, self.interval)

    def fire(self, at: float, world: _World) -> float | None:
        if not world.is_down(self.sensor.id, at):
            self.report(at, world)
        return at + self.interval * (1.0 + self.rng.uniform(-self.jitter, self.jitter))

    def report(self, at: float, world: _World) -> None:
        raise NotImplementedError


class _Camera(_Reporter):
    """Traffic and speed cameras: mean speed and count on each observed segment."""

    def __init__(self, sensor: Sensor, world: _World) -> None:
        super().__init__(sensor, world)
        self.counts = random.Random(stable_seed(world.seed, "counts", sensor.id))

    def report(self, at: float, world: _World) -> None:
        sod, weekend = world.clock.seconds_of_day(at)
        interval = min(self.sensor.report_interval_s, _MAX_INTERVAL_S)
        for segment in self.sensor.segments:
            speed, vehicles = world.traffic.observe(segment, at, sod, weekend, interval, self.rng, self.counts)
            speed = min(250.0, max(0.0, round(world.effects.reading(self.sensor.id, segment, at, speed), 1)))
            world.out.speed(self.sensor.id, at, segment, speed, vehicles, interval)


class _Violations:
    """A speed camera's violations: a Poisson process by hour, thinned where traffic is slow."""

    def __init__(self, sensor: Sensor, world: _World) -> None:
        self.sensor = sensor
        self.rng = random.Random(stable_seed(world.seed, "violations", sensor.id))
        self.profile = world.scenario.violations
        self.max_rate_h = self.profile.per_camera_by_hour.peak
        self.classes = [name for name, _ in self.profile.vehicle_classes]
        self.weights = [weight for _, weight in self.profile.vehicle_classes]

    def next_after(self, at: float) -> float | None:
        if self.max_rate_h <= 0:
            return None
        return at + self.rng.expovariate(self.max_rate_h / 3600.0)

    def fire(self, at: float, world: _World) -> float | None:
        p = self.profile
        segment = world.city.segments[self.rng.choice(self.sensor.segments)]
        sod, weekend = world.clock.seconds_of_day(at)
        ratio, _, _ = world.traffic.ratio(segment, at, sod, weekend)
        accept = p.per_camera_by_hour.at(sod) * min(1.0, ratio) / self.max_rate_h
        if self.rng.random() < accept and not world.is_down(self.sensor.id, at):
            limit = float(self.sensor.limit_kmh or segment.speed_limit_kmh)
            excess = self.rng.triangular(p.excess_kmh.low, p.excess_kmh.high, p.excess_mode_kmh)
            vehicle = self.rng.choices(self.classes, self.weights)[0]
            world.out.violation(self.sensor.id, at, segment.id, round(limit + excess), limit, vehicle)
        return self.next_after(at)


class _WaterStation(_Reporter):
    """Water level near normal: a semi-diurnal tide plus a slow, lagged rise after rain upstream."""

    def __init__(self, sensor: Sensor, world: _World) -> None:
        super().__init__(sensor, world)
        p = world.scenario.water
        self.amplitude = p.tide_amplitude_by_river_m.get(sensor.river or "", p.tide_amplitude_m)
        self.lag_s = self.rng.uniform(p.tide_lag_h.low, p.tide_lag_h.high) * 3600.0
        self.last: float | None = None
        self.wet_mm = 0.0  # recent rain, decaying
        self.response_mm = 0.0  # what the river shows of it, lagging behind

    def report(self, at: float, world: _World) -> None:
        p = world.scenario.water
        since = self.last if self.last is not None else at - self.interval
        self.last = at
        dt = max(0.0, at - since)
        self.wet_mm = self.wet_mm * math.exp(-dt / (p.rain_memory_h * 3600.0)) + world.rain.amount_mm(
            self.sensor.lat, self.sensor.lon, since, at
        )
        self.response_mm = self.wet_mm + (self.response_mm - self.wet_mm) * math.exp(-dt / (p.rain_rise_h * 3600.0))
        phase = 2.0 * math.pi * (at - _TIDE_EPOCH - self.lag_s) / (p.tide_period_h * 3600.0)
        tide = self.amplitude * (math.cos(phase) + p.diurnal_ratio * math.cos(phase / 2.0)) / (1.0 + p.diurnal_ratio)
        normal = self.sensor.normal_level_m or 0.0
        flood_m, calm = world.effects.water(self.sensor.id, at)  # a flood drowns the tide and the showers' ripple
        swell = tide + p.rain_response_m_per_mm * self.response_mm
        level = normal + flood_m + calm * swell + self.rng.gauss(0.0, p.noise_m)
        level = min(50.0, max(-10.0, world.effects.reading(self.sensor.id, "", at, level)))
        world.out.water_level(self.sensor.id, at, round(level, 3))


class _RainGauge(_Reporter):
    """Rain over the last interval at the gauge, from the shared rain field (so nearby gauges agree)."""

    def report(self, at: float, world: _World) -> None:
        interval = self.sensor.report_interval_s
        mm = world.rain.amount_mm(self.sensor.lat, self.sensor.lon, at - interval, at)
        mm += world.effects.rain_mm(self.sensor.id, at - interval, at)
        mm = min(500.0, max(0.0, world.effects.reading(self.sensor.id, "", at, mm)))
        world.out.rain(self.sensor.id, at, round(mm, 1), interval)


class _WifiHotspot(_Reporter):
    """Clients following the day's usage curve, scaled by capacity and popularity; throughput per client."""

    def __init__(self, sensor: Sensor, world: _World) -> None:
        super().__init__(sensor, world)
        p = world.scenario.wifi
        self.capacity = sensor.capacity_clients or 0
        self.popularity = self.rng.uniform(p.popularity.low, p.popularity.high)

    def report(self, at: float, world: _World) -> None:
        p = world.scenario.wifi
        sod, _ = world.clock.seconds_of_day(at)
        mean = self.capacity * self.popularity * p.usage_by_hour.at(sod)
        clients = min(self.capacity, max(0, round(mean * (1.0 + self.rng.gauss(0.0, p.noise)))))
        clients = max(0, round(world.effects.reading(self.sensor.id, "", at, clients)))
        mbps = clients * self.rng.uniform(p.mbps_per_client.low, p.mbps_per_client.high)
        world.out.wifi(self.sensor.id, at, clients, round(mbps, 2))


class _OutagePlanner:
    """At each local midnight, draws the day's device outages and puts their start and end on the heap."""

    def __init__(self, world: _World, schedule: _Schedule) -> None:
        self.profile: OutageProfile = world.scenario.outages
        self.schedule = schedule
        self.sensors = sorted(world.city.sensors)
        self.planned_until: dict[str, float] = {}

    def fire(self, at: float, world: _World) -> float | None:
        p = self.profile
        # The plan depends only on (seed, date): a run starting mid-day sees that day's later outages.
        midnight, day_end = world.clock.midnight_of(at), world.clock.midnight_after(at)
        rng = random.Random(stable_seed(world.seed, "outages", world.clock.local(at).date().isoformat()))
        for _ in range(rng.randint(int(p.per_day.low), int(p.per_day.high))):
            sensor = world.city.sensors[rng.choice(self.sensors)]
            start = rng.uniform(midnight, day_end)
            minutes = rng.uniform(p.duration_min.low, p.duration_min.high)
            duration = max(minutes * 60.0, p.min_missed_reports * sensor.report_interval_s)
            announce: DeviceStatus | None = None
            if rng.random() < p.announce_probability:
                announce = "fault" if rng.random() < p.fault_share else "offline"
            detail = rng.choice(p.fault_details if announce == "fault" else p.offline_details)
            outage = _Outage(sensor.id, start, start + duration, announce, detail, rng.choice(p.online_details))
            if start < at or start < self.planned_until.get(sensor.id, -math.inf):
                continue  # before the simulation began, or the device is already down then
            self.planned_until[sensor.id] = outage.end
            self.schedule.add(outage.start, _OutageStart(outage))
            self.schedule.add(outage.end, _OutageEnd(outage))
        return day_end


class _OutageStart:
    """A device goes quiet, perhaps saying so first."""

    def __init__(self, outage: _Outage) -> None:
        self.outage = outage

    def fire(self, at: float, world: _World) -> float | None:
        o = self.outage
        world.down_until[o.sensor] = max(o.end, world.down_until.get(o.sensor, -math.inf))
        if o.announce is not None:
            world.out.status(o.sensor, at, o.announce, o.detail)
        logger.debug("outage of %s from %.0f to %.0f", o.sensor, o.start, o.end)
        return None


class _OutageEnd:
    """A device comes back: it says "online", then reports as usual."""

    def __init__(self, outage: _Outage) -> None:
        self.outage = outage

    def fire(self, at: float, world: _World) -> float | None:
        if world.down_until.get(self.outage.sensor, -math.inf) > at:
            return None  # another outage (a planned one, an episode's) still holds it down
        world.out.status(self.outage.sensor, at, "online", self.outage.back_detail)
        return None


class _StatusNote:
    """A device telling its status while it goes on reporting (an episode's sensor fault)."""

    def __init__(self, note: StatusNote) -> None:
        self.note = note

    def fire(self, at: float, world: _World) -> float | None:
        world.out.status(self.note.sensor, at, self.note.status, self.note.detail)
        return None


class _ExtraViolation:
    """One speed violation an episode adds (an alarm storm's burst), unless the camera is down."""

    def __init__(self, sensor: Sensor, world: _World, index: int) -> None:
        self.sensor = sensor
        self.rng = random.Random(stable_seed(world.seed, "extra-violation", index))

    def fire(self, at: float, world: _World) -> float | None:
        if world.is_down(self.sensor.id, at):
            return None
        p = world.scenario.violations
        segment = world.city.segments[self.rng.choice(self.sensor.segments)]
        limit = float(self.sensor.limit_kmh or segment.speed_limit_kmh)
        excess = self.rng.triangular(p.excess_kmh.low, p.excess_kmh.high, p.excess_mode_kmh)
        vehicle = self.rng.choices([name for name, _ in p.vehicle_classes], [w for _, w in p.vehicle_classes])[0]
        world.out.violation(self.sensor.id, at, segment.id, round(limit + excess), limit, vehicle)
        return None


class _Schedule:
    """The heap of (next fire time, insertion order, process): ties fire in insertion order."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, _Process]] = []
        self.counter = 0

    def add(self, at: float, process: _Process) -> None:
        heapq.heappush(self.heap, (at, self.counter, process))
        self.counter += 1


def as_epoch(start: datetime, city: City) -> float:
    """An instant as epoch seconds; a naive datetime is read as the city's local time."""
    if start.tzinfo is None or start.utcoffset() is None:
        start = start.replace(tzinfo=ZoneInfo(city.timezone))
    return start.timestamp()


def generate(city: City, scenario: Scenario, seed: int, start: datetime) -> Iterator[SimEvent]:
    """Events of a scenario from `start`, in non-decreasing event time, the same for the same inputs."""
    begin = as_epoch(start, city)
    end = begin + scenario.duration_s if scenario.duration_s is not None else math.inf
    world = _World(city, scenario, seed, begin)
    schedule = _Schedule()
    schedule.add(begin, _OutagePlanner(world, schedule))
    for plan in world.effects.outages:
        outage = _Outage(plan.sensor, plan.start, plan.end, plan.announce, plan.detail, plan.back_detail)
        schedule.add(outage.start, _OutageStart(outage))
        schedule.add(outage.end, _OutageEnd(outage))
    for note in world.effects.status_notes:
        schedule.add(note.at, _StatusNote(note))
    for index, (at, camera) in enumerate(world.effects.violations):
        schedule.add(at, _ExtraViolation(city.sensors[camera], world, index))
    for sensor in city.sensors.values():
        reporter: _Reporter
        if sensor.kind in ("traffic_camera", "speed_camera"):
            reporter = _Camera(sensor, world)
        elif sensor.kind == "water_station":
            reporter = _WaterStation(sensor, world)
        elif sensor.kind == "rain_gauge":
            reporter = _RainGauge(sensor, world)
        else:
            reporter = _WifiHotspot(sensor, world)
        schedule.add(reporter.first(begin), reporter)
        if sensor.kind == "speed_camera":
            violations = _Violations(sensor, world)
            first = violations.next_after(begin)
            if first is not None:
                schedule.add(first, violations)
    heap = schedule.heap
    while heap:
        at, _, process = heapq.heappop(heap)
        if at >= end:
            return
        following = process.fire(at, world)
        if following is not None:
            schedule.add(following, process)
        if world.out.events:
            yield from world.out.events
            world.out.events = []
