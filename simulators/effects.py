"""What a scenario's episodes do to the simulated city: the engine's side of `simulators/episodes.py`.

`Effects` answers the engine's questions at an instant, as pure functions of (episodes, city, seed, start, time)
so the events stay deterministic whatever order sensors report in: how fast a segment runs and how many vehicles
pass (crashes, flooded roads, the flood's demand), how much extra rain falls on a gauge, how far a flood lifts a
water station, what a faulty sensor reports instead of the truth. Device outages, flapping and extra speed
violations are planned once up front (`outages`, `status_notes`, `violations`) and put on the engine's heap.

Floods work in stages: a station's level is mapped onto 0 (its normal level), 1 (BĐ I), 2 (BĐ II), 3 (BĐ III),
straight lines between and the II→III step extended above III. The hydrograph is given in metres at the reference
station, turned into its stage, and every station takes `scale` × that stage `lag_min` later, turned back into
metres with its own lines: so each station crosses its own BĐ I, II, III in order as the flood rises and falls
back through them in order as it recedes. The recession is as slow as the hydrograph says; the aggregator's
hysteresis (ioc/rules.py: 0.10 m below the line for 30 minutes per level) then lowers the alarms one by one.
While a station is in flood its tide and its response to the ordinary showers fade (damped by the stage), so a
flood river does not flicker around a line with the tide.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final, Literal

from ioc.city import City, Segment, Sensor, distance_km
from simulators.episodes import (
    AlarmStormEpisode,
    CameraOutageEpisode,
    CrashEpisode,
    DeviceOutageEpisode,
    Episode,
    FloodEpisode,
    SensorFaultEpisode,
    StationResponse,
)
from simulators.errors import ScenarioError

_JUNCTION_KM: Final = 0.04  # segment ends closer than this meet at one junction
_CRASH_ONSET_S: Final = 120.0  # a crash slows its own segment within two minutes
_DEFAULT_RESPONSE: Final = StationResponse(scale=1.0, lag_min=0.0)
Announce = Literal["offline", "fault"]


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from parts, the same in every process (unlike the salted built-in hash())."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


class Series:
    """Points (epoch seconds, value) read as straight lines between them, the end values held outside."""

    def __init__(self, start: float, points: Sequence[tuple[float, float]]) -> None:
        self.times = [start + minute * 60.0 for minute, _ in points]
        self.values = [value for _, value in points]

    def value(self, at: float) -> float:
        """The value at an instant."""
        i = bisect_right(self.times, at)
        if i == 0:
            return self.values[0]
        if i == len(self.times):
            return self.values[-1]
        t0, t1, v0, v1 = self.times[i - 1], self.times[i], self.values[i - 1], self.values[i]
        return v0 + (v1 - v0) * (at - t0) / (t1 - t0)

    def integral(self, t0: float, t1: float) -> float:
        """The exact integral (value × seconds) between two instants."""
        if t1 <= t0:
            return 0.0
        cuts = [t0, *(t for t in self.times if t0 < t < t1), t1]
        return sum((b - a) * (self.value(a) + self.value(b)) / 2.0 for a, b in pairwise(cuts))


def _lines(sensor: Sensor) -> tuple[float, float, float, float]:
    """A water station's normal level and BĐ I, II, III lines, rising."""
    if sensor.alarm_levels_m is None:
        raise ScenarioError(f"flood: station {sensor.id} has no alarm levels in the city file")
    normal = sensor.normal_level_m if sensor.normal_level_m is not None else sensor.alarm_levels_m[0] - 1.0
    return (normal, *sensor.alarm_levels_m)


def stage_of(level_m: float, lines: tuple[float, float, float, float]) -> float:
    """A level as a stage: 0 normal, 1 BĐ I, 2 BĐ II, 3 BĐ III (never below 0; extended above III)."""
    if level_m <= lines[0]:
        return 0.0
    for stage in range(3):
        low, high = lines[stage], lines[stage + 1]
        if level_m <= high:
            return stage + (level_m - low) / (high - low)
    return 3.0 + (level_m - lines[3]) / (lines[3] - lines[2])


def level_of(stage: float, lines: tuple[float, float, float, float]) -> float:
    """A stage back in metres, with a station's own lines."""
    if stage <= 0:
        return lines[0]
    if stage >= 3:
        return lines[3] + (stage - 3.0) * (lines[3] - lines[2])
    low = int(stage)
    return lines[low] + (stage - low) * (lines[low + 1] - lines[low])


@dataclass(frozen=True)
class OutagePlan:
    """A device down from `start` to `end` (it sends nothing meanwhile), perhaps saying so first."""

    sensor: str
    start: float
    end: float
    announce: Announce | None
    detail: str
    back_detail: str


@dataclass(frozen=True)
class StatusNote:
    """A device reporting its status while it keeps sending readings (a fault it notices, then online)."""

    at: float
    sensor: str
    status: Literal["online", "offline", "fault"]
    detail: str


class _Flood:
    def __init__(self, episode: FloodEpisode, begin: float, city: City, seed: int, index: int) -> None:
        self.episode = episode
        self.start, self.end = begin + episode.at_s, begin + episode.end_s
        self.rain = Series(self.start, episode.rain_mm_h)
        self.hydrograph = Series(self.start, episode.hydrograph_m)
        self.reference_lines = _lines(_station(city, episode.reference))
        rng = random.Random(stable_seed(seed, "flood-rain", index))
        self.gauge_factor = {
            s.id: 1.0 + episode.rain_spread * rng.uniform(-1.0, 1.0) for s in sorted(city.sensors.values(), key=_id)
        }
        self.release: tuple[Series, float, dict[str, float]] | None = None
        if episode.reservoir is not None:
            r = episode.reservoir
            self.release = (Series(self.start, r.release_m3s), r.lag_min * 60.0, dict(r.rise_m_per_100_m3s))
        self.lines = {s.id: _lines(s) for s in city.sensors_of("water_station")}
        self.roads: dict[str, list[tuple[str, float, float, float]]] = defaultdict(list)
        for road in episode.flooded_roads:
            line = _lines(_station(city, road.station))[road.at_alarm]
            for segment in road.segments:
                _segment(city, segment)
                self.roads[segment].append((road.station, line, road.speed_factor, road.full_above_m))

    def active(self, at: float) -> bool:
        return self.start <= at < self.end

    def stage(self, station: str, at: float) -> float:
        """The flood's stage at a station (0 outside the episode)."""
        if not self.active(at):
            return 0.0
        stations = self.episode.stations
        response = stations.get(station) or (
            _DEFAULT_RESPONSE if station == self.episode.reference else stations.get("default", _DEFAULT_RESPONSE)
        )
        reference = self.hydrograph.value(at - response.lag_min * 60.0)
        return max(0.0, response.scale * stage_of(reference, self.reference_lines))

    def release_rise(self, station: str, at: float) -> float:
        if self.release is None or not self.active(at):
            return 0.0
        series, lag_s, rises = self.release
        return series.value(at - lag_s) / 100.0 * rises.get(station, 0.0)

    def level(self, station: str, at: float) -> float:
        """The level the flood holds a station at (its normal level outside the episode), without noise."""
        lines = self.lines[station]
        return level_of(self.stage(station, at), lines) + self.release_rise(station, at)


class _Crash:
    def __init__(self, episode: CrashEpisode, begin: float, city: City, junctions: dict[str, set[str]]) -> None:
        _segment(city, episode.segment)
        self.episode = episode
        self.start, self.end = begin + episode.at_s, begin + episode.end_s
        self.clear_s = episode.clear_min * 60.0
        self.hops = {episode.segment: 0}
        queue = deque([episode.segment])
        while queue:
            current = queue.popleft()
            if self.hops[current] >= episode.spill_hops:
                continue
            for neighbour in sorted(junctions[current]):
                if neighbour not in self.hops:
                    self.hops[neighbour] = self.hops[current] + 1
                    queue.append(neighbour)

    def weight(self, at: float, build_s: float) -> float:
        if at < self.start:
            return 0.0
        if at < self.end:
            return min(1.0, (at - self.start) / build_s) if build_s > 0 else 1.0
        if self.clear_s <= 0:
            return 0.0
        return max(0.0, 1.0 - (at - self.end) / self.clear_s) * min(1.0, (self.end - self.start) / max(build_s, 1.0))

    def factors(self, segment: str, at: float) -> tuple[float, float]:
        """(speed, volume) multipliers on a segment."""
        hop = self.hops.get(segment)
        if hop is None:
            return 1.0, 1.0
        e = self.episode
        if hop == 0:
            w = self.weight(at, _CRASH_ONSET_S)
            return 1.0 - (1.0 - e.speed_factor) * w, 1.0 - (1.0 - e.volume_factor) * w
        w = self.weight(at, e.build_min * 60.0)
        slowdown = (1.0 - e.neighbour_speed_factor) * 0.5 ** (hop - 1)
        return 1.0 - slowdown * w, 1.0


class _Fault:
    def __init__(self, episode: SensorFaultEpisode, begin: float, city: City) -> None:
        if episode.sensor not in city.sensors:
            raise ScenarioError(f"sensor_fault: unknown sensor {episode.sensor!r}")
        self.episode = episode
        self.start, self.end = begin + episode.at_s, begin + episode.end_s
        self.frozen: dict[str, float] = {}

    def apply(self, key: str, at: float, value: float) -> float:
        if not self.start <= at < self.end:
            return value
        e = self.episode
        if e.mode == "drift":
            return value + e.drift_per_h * (at - self.start) / 3600.0
        if e.value is not None:
            return e.value
        return self.frozen.setdefault(key, value)


def _id(sensor: Sensor) -> str:
    return sensor.id


def _station(city: City, station: str) -> Sensor:
    found = city.sensors.get(station)
    if found is None or found.kind != "water_station":
        raise ScenarioError(f"flood: unknown water station {station!r}")
    return found


def _segment(city: City, segment: str) -> Segment:
    found = city.segments.get(segment)
    if found is None:
        raise ScenarioError(f"unknown road segment {segment!r}")
    return found


def junctions(city: City) -> dict[str, set[str]]:
    """For each segment, the segments one of whose ends meets one of its ends (within 40 m)."""
    ends = {seg.id: (seg.coords[0], seg.coords[-1]) for seg in sorted(city.segments.values(), key=lambda s: s.id)}
    out: dict[str, set[str]] = {seg: set() for seg in ends}
    items = list(ends.items())
    for i, (a, a_ends) in enumerate(items):
        for b, b_ends in items[i + 1 :]:
            if any(distance_km(*p, *q) <= _JUNCTION_KM for p in a_ends for q in b_ends):
                out[a].add(b)
                out[b].add(a)
    return out


class Effects:
    """Every episode of a scenario, ready to answer the engine (cheap when there are none)."""

    def __init__(self, city: City, episodes: Sequence[Episode], seed: int, begin: float) -> None:
        self.floods: list[_Flood] = []
        self.crashes: list[_Crash] = []
        self.faults: dict[str, list[_Fault]] = defaultdict(list)
        self.outages: list[OutagePlan] = []
        self.status_notes: list[StatusNote] = []
        self.violations: list[tuple[float, str]] = []  # (time, speed camera)
        links = junctions(city) if any(isinstance(e, CrashEpisode) for e in episodes) else {}
        for index, episode in enumerate(episodes):
            rng = random.Random(stable_seed(seed, "episode", index, episode.kind))
            start, end = begin + episode.at_s, begin + episode.end_s
            if isinstance(episode, FloodEpisode):
                self.floods.append(_Flood(episode, begin, city, seed, index))
            elif isinstance(episode, CrashEpisode):
                self.crashes.append(_Crash(episode, begin, city, links))
            elif isinstance(episode, SensorFaultEpisode):
                self.faults[episode.sensor].append(_Fault(episode, begin, city))
                if episode.announce:
                    self.status_notes.append(StatusNote(start, episode.sensor, "fault", episode.detail))
                    self.status_notes.append(StatusNote(end, episode.sensor, "online", "đã hiệu chỉnh (recalibrated)"))
            elif isinstance(episode, CameraOutageEpisode):
                self._camera_outage(episode, city, rng, start, end)
            elif isinstance(episode, DeviceOutageEpisode):
                for device in episode.devices:
                    if city.sensors.get(device) is None:
                        raise ScenarioError(f"device_outage: unknown device {device!r}")
                self._outages(sorted(episode.devices), episode, rng, start, end)
            else:
                self._alarm_storm(episode, city, rng, start, end)
        self.status_notes.sort(key=lambda n: (n.at, n.sensor))
        self.violations.sort()
        self.traffic_touched = bool(self.crashes) or any(f.roads or f.episode.demand_factor != 1 for f in self.floods)

    def _camera_outage(self, e: CameraOutageEpisode, city: City, rng: random.Random, start: float, end: float) -> None:
        if e.cameras:
            for camera in e.cameras:
                if city.sensors.get(camera) is None:
                    raise ScenarioError(f"camera_outage: unknown camera {camera!r}")
            chosen = sorted(e.cameras)
        else:
            pool = sorted(
                s.id for s in city.sensors.values() if s.kind in e.kinds and (e.ward is None or s.ward == e.ward)
            )
            count = min(len(pool), max(1, round((e.share or 0.0) * len(pool))))
            chosen = sorted(rng.sample(pool, count))
        self._outages(chosen, e, rng, start, end)

    def _outages(
        self,
        devices: list[str],
        e: CameraOutageEpisode | DeviceOutageEpisode,
        rng: random.Random,
        start: float,
        end: float,
    ) -> None:
        """Plan each device down from about `start` to about `end` (spread over the episode's stagger)."""
        stagger = e.stagger_min * 60.0
        announce: Announce | None = None if e.announce == "none" else e.announce
        for device in devices:
            down, up = start + rng.uniform(0.0, stagger), end + rng.uniform(0.0, stagger)
            self.outages.append(OutagePlan(device, down, up, announce, e.detail, e.back_detail))

    def _alarm_storm(self, e: AlarmStormEpisode, city: City, rng: random.Random, start: float, end: float) -> None:
        pool = sorted(s.id for s in city.sensors.values() if s.kind in e.kinds)
        chosen = sorted(rng.sample(pool, round(e.flapping_share * len(pool))))
        slot = (end - start) / e.flaps
        low, high = e.down_min
        for device in chosen:
            for flap in range(e.flaps):
                down_s = rng.uniform(low, high) * 60.0
                at = start + flap * slot + rng.uniform(0.0, max(0.0, slot - down_s))
                self.outages.append(OutagePlan(device, at, at + down_s, "offline", e.detail, e.back_detail))
        cameras = sorted(s.id for s in city.sensors_of("speed_camera"))
        if cameras:
            for _ in range(e.violations):
                self.violations.append((rng.uniform(start, end), rng.choice(cameras)))

    # -- what the engine asks ------------------------------------------------------------------------------------

    def demand(self, at: float) -> float:
        """Road demand multiplier (a flood keeps people home)."""
        factor = 1.0
        for flood in self.floods:
            if flood.active(at):
                factor *= flood.episode.demand_factor
        return factor

    def traffic(self, segment: str, at: float) -> tuple[float, float]:
        """(speed, volume) multipliers on a segment: crashes and their queues, flooded roads."""
        if not self.traffic_touched:
            return 1.0, 1.0
        speed = volume = 1.0
        for crash in self.crashes:
            s, v = crash.factors(segment, at)
            speed, volume = speed * s, volume * v
        for flood in self.floods:
            for station, line, factor, full in flood.roads.get(segment, ()):
                depth = flood.level(station, at) - line
                if depth > 0:
                    share = 1.0 - (1.0 - factor) * min(1.0, depth / full)
                    speed, volume = speed * share, volume * share
        return speed, volume

    def water(self, station: str, at: float) -> tuple[float, float]:
        """(metres a flood adds above the station's normal level, how much of its tide and shower response remain)."""
        extra, stage = 0.0, 0.0
        for flood in self.floods:
            if flood.active(at) and station in flood.lines:
                stage = max(stage, flood.stage(station, at))
                extra += flood.level(station, at) - flood.lines[station][0]
        return extra, max(0.0, 1.0 - stage)

    def rain_mm(self, gauge: str, t0: float, t1: float) -> float:
        """Extra rain (mm) a gauge collects between two instants."""
        total = 0.0
        for flood in self.floods:
            a, b = max(t0, flood.start), min(t1, flood.end)
            if a < b:
                total += flood.gauge_factor.get(gauge, 1.0) * flood.rain.integral(a, b) / 3600.0
        return total

    def reading(self, sensor: str, key: str, at: float, value: float) -> float:
        """What a sensor reports instead of `value` while a fault holds it (the true value otherwise)."""
        for fault in self.faults.get(sensor, ()):
            value = fault.apply(key, at, value)
        return value
