"""Scenario files and episodes: every shipped scenario loads and repeats itself, the flood of October 2022 rises
and recedes through the alarm lines by the rules, the crash slows its segment and the neighbours, outages, alarm
storms and faulty sensors do what they say, and a malformed file is refused with its file and line.

Events come from the engine directly (no wall clock); where only some sensors matter the real city is narrowed to
them, so a four-day flood takes well under a second.
"""

from __future__ import annotations

import dataclasses
import io
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ioc.city import City
from ioc.events import parse_event
from ioc.rules import FloodHysteresis, StationAlarm, next_station_alarm
from simulators import DRY_RUN_START, SimEvent, dry_run, generate, list_scenarios, load_scenario
from simulators.errors import ScenarioError
from simulators.scenario import Scenario, check_file

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SEED = 11
SHIPPED = ("normal-day", "flood-oct-2022", "rush-hour-crash", "network-outage", "alarm-storm")


def _narrow(city: City, keep: Iterable[str] = (), kinds: Iterable[str] = ()) -> City:
    """The real city with only some of its sensors (the others' events are not needed by the test)."""
    ids, wanted = set(keep), set(kinds)
    sensors = {k: s for k, s in city.sensors.items() if k in ids or s.kind in wanted}
    return dataclasses.replace(city, sensors=sensors)


def _events(city: City, scenario: Scenario, seed: int = SEED, start: datetime | None = None) -> list[SimEvent]:
    return list(generate(city, scenario, seed, start or scenario.start or DRY_RUN_START))


def _local(event: SimEvent) -> datetime:
    return datetime.fromtimestamp(event.at, TZ)


def _start(scenario: Scenario) -> datetime:
    assert scenario.start is not None
    return scenario.start.replace(tzinfo=TZ)


def _alarm_steps(city: City, station: str, events: list[SimEvent]) -> list[int]:
    """The station's alarm level after each change, as the aggregator computes it (ioc/rules.py)."""
    sensor = city.sensors[station]
    assert sensor.alarm_levels_m is not None
    state, steps = StationAlarm(0, None), [0]
    for event in events:
        if event.fields["sensor"] == station and event.fields["type"] == "flood.water_level.observed":
            state = next_station_alarm(
                state, float(event.fields["level_m"]), event.at, sensor.alarm_levels_m, FloodHysteresis()
            )
            if state.alarm != steps[-1]:
                steps.append(state.alarm)
    return steps


def _up_then_down_one_at_a_time(steps: list[int]) -> bool:
    peak = steps.index(max(steps))
    rising, falling = steps[: peak + 1], steps[peak:]
    return rising == list(range(len(rising))) and falling == list(range(max(steps), -1, -1))


# --- every shipped scenario -------------------------------------------------------------------------------------


def test_at_least_five_scenarios_are_shipped_and_load_against_the_city(city: City) -> None:
    assert set(SHIPPED) <= set(list_scenarios())
    for name in SHIPPED:
        scenario = load_scenario(name, city=city)
        assert scenario.title
        assert name == "normal-day" or scenario.episodes, f"{name} has no episode"


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_scenario_gives_the_same_lines_for_the_same_seed(city: City, name: str) -> None:
    scenario = load_scenario(name)
    # Through its first episode's first half hour: the episode's events are in the lines compared.
    first = min((e.at_min for e in scenario.episodes), default=0.0)
    duration_s = (first + 30.0) * 60.0
    runs = []
    for seed in (SEED, SEED, SEED + 1):
        out = io.StringIO()
        dry_run(city, name, seed, None, out, duration_s=duration_s)
        runs.append(out.getvalue())
    assert runs[0] == runs[1] != runs[2]
    lines = runs[0].splitlines()
    assert len(lines) > 100
    for line in lines[:: max(1, len(lines) // 200)]:
        parse_event(json.loads(line)["fields"])  # what the simulator sends, a real sensor could send


def test_dry_run_stops_at_the_duration(city: City) -> None:
    out = io.StringIO()
    count = dry_run(city, "normal-day", SEED, None, out, duration_s=600)
    stamps = [json.loads(line)["fields"]["ts"] for line in out.getvalue().splitlines()]
    assert count == len(stamps) > 100
    assert "2026-01-05T05:09" <= max(stamps) < "2026-01-05T05:10"
    assert dry_run(city, "normal-day", SEED, 10, io.StringIO(), duration_s=600) == 10


def test_a_scenario_start_is_its_dry_run_start(city: City) -> None:
    out = io.StringIO()
    dry_run(city, "flood-oct-2022", SEED, 1, out)
    assert json.loads(out.getvalue())["fields"]["ts"].startswith("2022-10-09T00:0")


# --- the flood of October 2022 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flood(city: City) -> tuple[City, list[SimEvent]]:
    small = _narrow(city, keep=("cam-07", "cam-13", "cam-01"), kinds=("water_station", "rain_gauge"))
    return small, _events(small, load_scenario("flood-oct-2022", city=city))


def test_the_tam_ky_station_reads_what_was_reported(flood: tuple[City, list[SimEvent]]) -> None:
    _, events = flood
    readings = {
        _local(e).strftime("%d %H:%M"): float(e.fields["level_m"])
        for e in events
        if e.fields["sensor"] == "wl-tam-ky" and e.fields["type"] == "flood.water_level.observed"
    }

    def near(day_hour: str) -> float:
        return next(level for stamp, level in readings.items() if stamp[:5] == day_hour and int(stamp[6:]) < 5)

    assert near("11 05") == pytest.approx(2.29, abs=0.02)
    assert near("11 08") == pytest.approx(2.31, abs=0.02)


def test_tam_ky_crosses_bd1_then_bd2_and_recedes_by_the_rules(flood: tuple[City, list[SimEvent]]) -> None:
    city, events = flood
    # The scenario's data go as far as BĐ II (2.31 m and rising; no report of BĐ III): up I, II, then down II, I.
    assert _alarm_steps(city, "wl-tam-ky", events) == [0, 1, 2, 1, 0]


def test_every_station_rises_and_falls_through_its_own_lines_in_order(flood: tuple[City, list[SimEvent]]) -> None:
    city, events = flood
    peaks = {}
    for station in (s.id for s in city.sensors_of("water_station")):
        steps = _alarm_steps(city, station, events)
        assert _up_then_down_one_at_a_time(steps), f"{station}: {steps}"
        peaks[station] = max(steps)
    assert peaks["wl-phuoc-hoa"] == 3, "by the market, where 1–1.5 m of water was reported"


def test_nearly_500_mm_of_rain_in_48_hours(flood: tuple[City, list[SimEvent]]) -> None:
    city, events = flood
    start = datetime(2022, 10, 9, 11, tzinfo=TZ).timestamp()
    totals: dict[str, float] = defaultdict(float)
    for event in events:
        if event.fields["type"] == "flood.rain.observed" and start <= event.at < start + 48 * 3600:
            totals[event.fields["sensor"]] += float(event.fields["rain_mm"])
    assert len(totals) == len(city.sensors_of("rain_gauge"))
    assert 450 <= statistics.mean(totals.values()) <= 540
    assert all(400 <= total <= 600 for total in totals.values()), totals


def test_low_lying_roads_flood_and_their_traffic_collapses(flood: tuple[City, list[SimEvent]]) -> None:
    _, events = flood

    def mean_speed(segment: str, day: int, hours: range) -> float:
        return statistics.mean(
            float(e.fields["speed_kmh"])
            for e in events
            if e.fields.get("segment") == segment
            and e.fields["type"] == "traffic.speed.observed"
            and _local(e).day == day
            and _local(e).hour in hours
        )

    for segment in ("seg-bd-01", "seg-hv-03"):  # by the market, under Phước Hòa's BĐ II
        assert mean_speed(segment, 11, range(10, 15)) < 0.35 * mean_speed(segment, 9, range(10, 15))
        assert mean_speed(segment, 12, range(18, 23)) > 0.8 * mean_speed(segment, 9, range(18, 23))
    assert mean_speed("seg-pct-01", 11, range(10, 15)) > 0.8 * mean_speed("seg-pct-01", 9, range(10, 15))


def test_a_flood_to_bd3_goes_up_and_down_through_all_three_lines(city: City, tmp_path: Path) -> None:
    (tmp_path / "peak.yaml").write_text(
        "extends: normal-day\n"
        "title: A flood past BĐ III\n"
        "duration_min: 2880\n"
        "episodes:\n"
        "  - kind: flood\n"
        "    at_min: 0\n"
        "    duration_min: 2880\n"
        "    rain_mm_h: [[0, 20], [1440, 20], [1500, 0]]\n"
        "    hydrograph_m: [[0, 0.6], [600, 1.8], [900, 2.4], [1200, 3.0], [1800, 2.0], [2600, 0.6]]\n",
        encoding="utf-8",
    )
    scenario = check_file(tmp_path / "peak.yaml", city)
    small = _narrow(city, keep=("wl-tam-ky",))
    assert _alarm_steps(small, "wl-tam-ky", _events(small, scenario, start=DRY_RUN_START)) == [0, 1, 2, 3, 2, 1, 0]


# --- a crash ------------------------------------------------------------------------------------------------------

CRASH_SEGMENT = "seg-pct-03"
NEIGHBOURS = ("seg-pct-02", "seg-pct-04", "seg-hv-02", "seg-hv-03", "seg-tt-01")


def test_the_crash_slows_its_segment_and_the_neighbours_then_clears(city: City) -> None:
    crash = load_scenario("rush-hour-crash", city=city)
    assert crash.start is not None
    normal = dataclasses.replace(load_scenario("normal-day"), duration_s=crash.duration_s)
    cameras = {s.id for s in city.sensors_of("traffic_camera")}
    small = _narrow(city, keep=cameras)

    def speeds(scenario: Scenario) -> dict[tuple[str, str], list[float]]:
        out: dict[tuple[str, str], list[float]] = defaultdict(list)
        for event in _events(small, scenario, start=crash.start):
            if event.fields["type"] != "traffic.speed.observed":
                continue
            minute = _local(event).strftime("%H:%M")
            span = "crash" if "07:20" <= minute < "07:55" else "after" if minute >= "08:40" else "other"
            out[(event.fields["segment"], span)].append(float(event.fields["speed_kmh"]))
        return out

    with_crash, without = speeds(crash), speeds(normal)

    def ratio(segment: str, span: str) -> float:
        return statistics.mean(with_crash[(segment, span)]) / statistics.mean(without[(segment, span)])

    assert ratio(CRASH_SEGMENT, "crash") < 0.25
    for segment in NEIGHBOURS:
        assert ratio(segment, "crash") < 0.75, segment
    assert ratio("seg-ql1a-08", "crash") == pytest.approx(1.0), "far away nothing changes"
    for segment in (CRASH_SEGMENT, *NEIGHBOURS):
        assert ratio(segment, "after") == pytest.approx(1.0), f"{segment} not back to normal"


# --- devices ------------------------------------------------------------------------------------------------------


def test_a_third_of_the_cameras_go_offline_and_come_back(city: City) -> None:
    scenario = load_scenario("network-outage", city=city)
    cameras = {s.id for s in city.sensors.values() if s.kind in ("traffic_camera", "speed_camera")}
    events = _events(_narrow(city, keep=cameras), scenario)
    offline = {e.fields["sensor"] for e in events if e.fields.get("status") == "offline"}
    detail = {e.fields["detail"] for e in events if e.fields.get("status") == "offline"}
    assert len(offline) == round(len(cameras) / 3) and "mất kết nối cáp quang (fibre link cut)" in detail
    outage = (_start(scenario) + timedelta(minutes=33), _start(scenario) + timedelta(minutes=120))
    during = {e.fields["sensor"] for e in events if e.domain == "traffic" and outage[0] <= _local(e) < outage[1]}
    assert not offline & during, "an offline camera sends nothing"
    assert cameras - offline <= during
    back = {e.fields["sensor"] for e in events if e.fields.get("status") == "online" and _local(e) >= outage[1]}
    assert offline <= back


def test_the_alarm_storm_sends_many_alerts_in_a_short_time(city: City) -> None:
    scenario = load_scenario("alarm-storm", city=city)
    events = _events(city, scenario)
    window = (_start(scenario) + timedelta(minutes=20), _start(scenario) + timedelta(minutes=36))
    burst = Counter(e.fields["type"] for e in events if window[0] <= _local(e) < window[1])
    assert burst["device.status.changed"] >= 200  # each flap is an offline and an online
    assert burst["traffic.violation.detected"] >= 100  # 150 sent, less those of cameras down at the moment
    quiet = Counter(e.fields["type"] for e in events if _local(e) >= _start(scenario) + timedelta(minutes=80))
    assert quiet["device.status.changed"] < 10


def test_a_drifting_sensor_raises_a_false_alarm_and_a_stuck_one_stays_put(city: City, tmp_path: Path) -> None:
    events = _events(_narrow(city, keep=("wl-an-son",)), load_scenario("alarm-storm"))
    assert _alarm_steps(city, "wl-an-son", events)[:2] == [0, 1], "the drift takes it past BĐ I"
    (tmp_path / "stuck.yaml").write_text(
        "extends: normal-day\ntitle: Stuck gauge\nduration_min: 240\nepisodes:\n"
        "  - {kind: sensor_fault, at_min: 60, duration_min: 120, sensor: rg-01, mode: stuck, value: 0.0,"
        " announce: true}\n"
        "  - {kind: sensor_fault, at_min: 60, duration_min: 120, sensor: wl-tam-ky, mode: stuck}\n",
        encoding="utf-8",
    )
    scenario = check_file(tmp_path / "stuck.yaml", city)
    start = datetime(2026, 1, 5, 12, tzinfo=TZ)
    events = _events(_narrow(city, keep=("rg-01", "wl-tam-ky")), scenario, start=start)
    held = [
        e.fields.get("level_m") or e.fields.get("rain_mm")
        for e in events
        if e.domain == "flood" and start + timedelta(minutes=61) <= _local(e) < start + timedelta(minutes=179)
    ]
    by_sensor = {e.fields["sensor"] for e in events if e.domain == "flood"}
    assert by_sensor == {"rg-01", "wl-tam-ky"} and len(held) > 40
    assert len({v for v in held if v is not None}) == 2, "each stuck sensor repeats one value"
    notes = [e for e in events if e.domain == "device" and e.fields["sensor"] == "rg-01"]
    assert [(e.fields["status"], _local(e).strftime("%H:%M")) for e in notes if "đo" in e.fields["detail"]] == [
        ("fault", "13:00")
    ]
    assert ("online", "15:00") in [(e.fields["status"], _local(e).strftime("%H:%M")) for e in notes]


# --- malformed files ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("extends: normal-day\ntitle: x\nepisodes: [\n", r"bad\.yaml:4: not valid YAML"),
        (
            "extends: normal-day\ntitle: x\nepisodes:\n  - kind: meteor\n    at_min: 5\n",
            r"bad\.yaml:4: episodes\[0\]: unknown episode kind 'meteor' \(this engine implements: .*crash",
        ),
        (
            "extends: normal-day\ntitle: x\nepisodes:\n  - kind: crash\n    at_min: 5\n    duration_min: 10\n"
            "    segment: seg-pct-03\n    speed_factr: 0.2\n",
            r"bad\.yaml:8: episodes\[0\]\.speed_factr: unknown field 'speed_factr'",
        ),
        (
            "extends: normal-day\ntitle: x\nepisodes:\n  - kind: crash\n    at_min: soon\n    duration_min: 10\n"
            "    segment: seg-pct-03\n",
            r"bad\.yaml:5: episodes\[0\]\.at_min: expected a number, got 'soon'",
        ),
        (
            "extends: normal-day\ntitle: x\nwifi:\n  noise: 0.1\n  noise: 0.2\n",
            r"bad\.yaml:5: wifi: key 'noise' is given twice \(first on line 4\)",
        ),
        ("extends: normal-day\ntitle: x\ntraffic:\n  peaks:\n    - {start: 16:30, end: '18:30'}\n", r"bad\.yaml:5"),
    ],
    ids=["syntax", "unknown-kind", "unknown-field", "bad-number", "duplicate-key", "missing-field"],
)
def test_a_malformed_scenario_is_refused_with_its_file_and_line(
    city: City, tmp_path: Path, text: str, expected: str
) -> None:
    (tmp_path / "normal-day.yaml").write_text(
        (Path(__file__).parent.parent / "simulators/scenarios/normal-day.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError, match=expected):
        check_file(tmp_path / "bad.yaml", city)
    with pytest.raises(ScenarioError, match=expected.replace(r"bad\.yaml", r"bad\.yaml")):
        load_scenario("bad", tmp_path)


def test_a_problem_in_an_inherited_value_names_the_file_it_came_from(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        (Path(__file__).parent.parent / "simulators/scenarios/normal-day.yaml")
        .read_text(encoding="utf-8")
        .replace("jitter: 0.03", "jitter: 3"),
        encoding="utf-8",
    )
    (tmp_path / "child.yaml").write_text("extends: base\ntitle: Child\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"base\.yaml:14: jitter: 3 is outside the allowed range"):
        load_scenario("child", tmp_path)


def test_times_stay_times_in_yaml(city: City) -> None:
    scenario = load_scenario("normal-day")
    assert [p.window.start_s for p in scenario.traffic.peaks] == [6.5 * 3600, 11 * 3600, 16.5 * 3600]
