"""Simulator tests: scenarios, determinism, the wire format, a realistic ordinary day, dry runs, real Redis."""

from __future__ import annotations

import io
import json
import logging
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import islice, pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from ioc.city import City
from ioc.embedded import EmbeddedRedis
from ioc.events import (
    DeviceStatusChanged,
    FloodRainObserved,
    FloodWaterLevelObserved,
    TrafficSpeedObserved,
    TrafficViolationDetected,
    WifiUsageObserved,
    parse_event,
)
from ioc.keys import DOMAINS, Keys
from ioc.store import connect_url
from simulators import (
    DRY_RUN_START,
    Scenario,
    SimEvent,
    dry_run,
    generate,
    list_scenarios,
    load_scenario,
    run_simulation,
    write_events,
)
from simulators.errors import ScenarioError
from simulators.scenario import SCENARIO_DIR

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 1, 5, tzinfo=TZ)
SEED = 7


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario("normal-day")


def _take(events: Iterator[SimEvent], n: int) -> list[SimEvent]:
    return list(islice(events, n))


def _span(city: City, scenario: Scenario, seed: int, start: datetime, hours: float) -> list[SimEvent]:
    end = start.timestamp() + hours * 3600
    out = []
    for event in generate(city, scenario, seed, start):
        if event.at >= end:
            break
        out.append(event)
    return out


@pytest.fixture(scope="module")
def day(city: City, scenario: Scenario) -> list[SimEvent]:
    """One simulated Monday from local midnight to midnight."""
    return _span(city, scenario, SEED, MONDAY, 24)


def _hour(event: SimEvent) -> float:
    local = datetime.fromtimestamp(event.at, TZ)
    return local.hour + local.minute / 60


def _between(events: list[SimEvent], event_type: str, start_h: float, end_h: float) -> list[SimEvent]:
    return [e for e in events if e.fields["type"] == event_type and start_h <= _hour(e) < end_h]


# --- scenarios as data ------------------------------------------------------------------------------------------


def test_normal_day_is_listed_and_loads(scenario: Scenario) -> None:
    assert "normal-day" in list_scenarios()
    assert scenario.name == "normal-day"
    assert len(scenario.traffic.weekday_demand.values) == 24
    assert scenario.duration_s is None


def test_unknown_scenario_names_the_available_ones() -> None:
    with pytest.raises(ScenarioError, match=r"unknown scenario 'no-such-day'.*normal-day"):
        load_scenario("no-such-day")
    with pytest.raises(ScenarioError, match="invalid scenario name"):
        load_scenario("../normal-day")


JSON_FIXTURE = Path(__file__).parent / "data" / "normal-day.json"  # normal-day as JSON, the format's first syntax


def _scenario_json() -> dict[str, object]:
    data: dict[str, object] = json.loads(JSON_FIXTURE.read_text(encoding="utf-8"))
    return data


def test_a_json_scenario_still_loads_and_equals_the_yaml_one(tmp_path: Path) -> None:
    (tmp_path / "normal-day.json").write_text(JSON_FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_scenario("normal-day", tmp_path) == load_scenario("normal-day")
    assert (SCENARIO_DIR / "normal-day.yaml").is_file()


def test_bad_scenario_file_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"broken\.json:1: not valid JSON"):
        load_scenario("broken", tmp_path)
    data = _scenario_json()
    data["wifi"] = {**data["wifi"], "usage_by_hour": [0.5] * 23}  # type: ignore[dict-item]
    (tmp_path / "short.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"short\.json:1: wifi\.usage_by_hour: expected 24 numbers"):
        load_scenario("short", tmp_path)
    data = _scenario_json()
    data["episodes"] = [{"kind": "meteor", "at_min": 5}]
    (tmp_path / "meteor.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ScenarioError, match="unknown episode kind 'meteor'"):
        load_scenario("meteor", tmp_path)


def test_a_scenario_extends_another_and_overrides_only_what_differs(tmp_path: Path) -> None:
    (tmp_path / "normal-day.json").write_text(json.dumps(_scenario_json()), encoding="utf-8")
    child = {"extends": "normal-day", "title": "Quiet wifi", "wifi": {"noise": 0.0}}
    (tmp_path / "quiet.json").write_text(json.dumps(child), encoding="utf-8")
    quiet, base = load_scenario("quiet", tmp_path), load_scenario("normal-day", tmp_path)
    assert quiet.title == "Quiet wifi" and quiet.wifi.noise == 0.0
    assert quiet.wifi.usage_by_hour == base.wifi.usage_by_hour and quiet.traffic == base.traffic
    (tmp_path / "loop.json").write_text(json.dumps({"extends": "loop"}), encoding="utf-8")
    with pytest.raises(ScenarioError, match="loops"):
        load_scenario("loop", tmp_path)


# --- determinism and the wire format ----------------------------------------------------------------------------


def test_same_seed_same_events_other_seed_other_events(city: City, scenario: Scenario) -> None:
    start = MONDAY + timedelta(hours=6)
    first = _take(generate(city, scenario, SEED, start), 2000)
    again = _take(generate(city, scenario, SEED, start), 2000)
    other = _take(generate(city, scenario, SEED + 1, start), 2000)
    assert len(first) == 2000
    assert [(e.at, e.domain, e.fields) for e in first] == [(e.at, e.domain, e.fields) for e in again]
    assert [e.fields for e in first] != [e.fields for e in other]


def test_every_event_is_valid_v1_from_a_known_sensor(city: City, scenario: Scenario) -> None:
    events = _take(generate(city, scenario, SEED, MONDAY + timedelta(hours=6)), 5000)
    assert len(events) == 5000
    assert all(a.at <= b.at for a, b in pairwise(events))
    assert events[-1].at - events[0].at > 3600  # several simulated hours' worth of types and sensors
    for event in events:
        parsed = parse_event(event.fields)
        assert parsed.domain == event.domain
        assert parsed.epoch == pytest.approx(event.at, abs=1e-3)
        assert parsed.ts.utcoffset() == timedelta(hours=7)
        assert parsed.sensor in city.sensors
        sensor = city.sensors[parsed.sensor]
        if isinstance(parsed, DeviceStatusChanged):
            assert event.domain == "device"
        else:
            assert sensor.domain == event.domain
        if isinstance(parsed, TrafficSpeedObserved | TrafficViolationDetected):
            assert parsed.segment in sensor.segments
        if isinstance(parsed, TrafficViolationDetected):
            assert sensor.kind == "speed_camera"
            assert 5 <= parsed.speed_kmh - parsed.limit_kmh <= 35


# --- a realistic ordinary day -----------------------------------------------------------------------------------


def test_peak_traffic_is_slower_and_busier_than_night(day: list[SimEvent]) -> None:
    speed = "traffic.speed.observed"
    peak, night = _between(day, speed, 7, 8), _between(day, speed, 2, 4)
    peak_speed = statistics.fmean(float(e.fields["speed_kmh"]) for e in peak)
    night_speed = statistics.fmean(float(e.fields["speed_kmh"]) for e in night)
    assert peak_speed < 0.8 * night_speed
    peak_count = statistics.fmean(int(e.fields["vehicles"]) for e in peak)
    night_count = statistics.fmean(int(e.fields["vehicles"]) for e in night)
    assert peak_count > 4 * night_count
    evening = statistics.fmean(float(e.fields["speed_kmh"]) for e in _between(day, speed, 17, 18))
    midday = statistics.fmean(float(e.fields["speed_kmh"]) for e in _between(day, speed, 14, 15))
    assert evening < midday


def test_some_arterial_congestion_at_peak_but_not_everywhere(city: City, day: list[SimEvent]) -> None:
    speed = "traffic.speed.observed"
    peaks = _between(day, speed, 6.5, 8) + _between(day, speed, 16.5, 18.5)
    arterial = [e for e in peaks if city.segments[e.fields["segment"]].road_class == "arterial"]
    congested = [e for e in arterial if float(e.fields["speed_kmh"]) <= 15]
    assert arterial
    assert 0 < len(congested) < 0.3 * len(arterial)
    assert len({e.fields["segment"] for e in congested}) < len({e.fields["segment"] for e in arterial})
    night = [e for e in _between(day, speed, 1, 4) if city.segments[e.fields["segment"]].road_class == "arterial"]
    assert not [e for e in night if float(e.fields["speed_kmh"]) <= 15]


def test_market_segments_are_slower_in_the_morning_market_hours(city: City, day: list[SimEvent]) -> None:
    def relative_speed(events: list[SimEvent]) -> float:
        return statistics.fmean(
            float(e.fields["speed_kmh"]) / city.segments[e.fields["segment"]].speed_limit_kmh for e in events
        )

    morning = _between(day, "traffic.speed.observed", 5, 6.5)
    tagged = [e for e in morning if "market" in city.segments[e.fields["segment"]].tags]
    market_classes = {city.segments[e.fields["segment"]].road_class for e in tagged}
    untagged = [
        e
        for e in morning
        if not city.segments[e.fields["segment"]].tags
        and city.segments[e.fields["segment"]].road_class in market_classes
    ]
    assert tagged and untagged
    assert relative_speed(tagged) < 0.85 * relative_speed(untagged)


def test_a_few_speed_violations_per_day(day: list[SimEvent]) -> None:
    violations = [e for e in day if e.fields["type"] == "traffic.violation.detected"]
    assert 0 < len(violations) < 200
    classes = {e.fields["vehicle_class"] for e in violations}
    assert "motorbike" in classes


def test_rivers_stay_below_bd1_with_light_rain(city: City, day: list[SimEvent]) -> None:
    levels: dict[str, list[float]] = defaultdict(list)
    rain = []
    for event in day:
        parsed = parse_event(event.fields)
        if isinstance(parsed, FloodWaterLevelObserved):
            levels[parsed.sensor].append(parsed.level_m)
        elif isinstance(parsed, FloodRainObserved):
            rain.append(parsed.rain_mm)
    stations = city.sensors_of("water_station")
    for station in stations:
        assert station.alarm_levels_m is not None
        readings = levels[station.id]
        assert readings, station.id
        assert max(readings) < station.alarm_levels_m[0], station.id
    assert rain and sum(1 for mm in rain if mm == 0) > 0.6 * len(rain)
    assert max(rain) < 15


def test_wifi_use_follows_the_day(day: list[SimEvent]) -> None:
    evening = [int(e.fields["clients"]) for e in _between(day, "wifi.usage.observed", 20, 21)]
    night = [int(e.fields["clients"]) for e in _between(day, "wifi.usage.observed", 3, 4)]
    assert statistics.fmean(evening) > 3 * statistics.fmean(night)
    for event in _between(day, "wifi.usage.observed", 0, 24):
        parsed = parse_event(event.fields)
        assert isinstance(parsed, WifiUsageObserved)
        assert float(parsed.mbps) <= parsed.clients * 1.2 + 1e-6


def test_a_device_drops_offline_and_comes_back(city: City, day: list[SimEvent]) -> None:
    times: dict[str, list[float]] = defaultdict(list)
    for event in day:
        seen = times[event.fields["sensor"]]
        if event.domain != "device" and (not seen or seen[-1] != event.at):
            seen.append(event.at)  # a camera's report is one event per segment, all at the same instant
    gaps = [
        sensor
        for sensor, seen in times.items()
        for before, after in pairwise(seen)
        if after - before > 3 * city.sensors[sensor].report_interval_s
        and city.sensors[sensor].kind != "speed_camera"  # violations are sparse; their reports are not periodic
    ]
    assert gaps, "no outage in a simulated day"
    back = {e.fields["sensor"] for e in day if e.domain == "device" and e.fields["status"] == "online"}
    assert set(gaps) <= back


# --- dry run ----------------------------------------------------------------------------------------------------


def test_dry_run_is_byte_identical_for_a_seed(city: City) -> None:
    first, again, other = io.StringIO(), io.StringIO(), io.StringIO()
    assert dry_run(city, "normal-day", 42, 300, first) == 300
    assert dry_run(city, "normal-day", 42, 300, again) == 300
    dry_run(city, "normal-day", 43, 300, other)
    assert first.getvalue() == again.getvalue() != other.getvalue()
    lines = first.getvalue().splitlines()
    assert len(lines) == 300
    live = Keys("live")
    for line in lines:
        record = json.loads(line)
        assert list(record) == ["stream", "fields"]
        parsed = parse_event(record["fields"])
        assert record["stream"] == live.events(parsed.domain)
        assert list(record["fields"])[:3] == ["v", "type", "ts"]
    assert json.loads(lines[0])["fields"]["ts"].startswith("2026-01-05T05:00")
    assert DRY_RUN_START.isoformat() == "2026-01-05T05:00:00+07:00"


def test_dry_run_limit_zero_and_unknown_scenario(city: City) -> None:
    out = io.StringIO()
    assert dry_run(city, "normal-day", 1, 0, out) == 0
    assert out.getvalue() == ""
    with pytest.raises(ScenarioError, match="normal-day"):
        dry_run(city, "no-such-day", 1, 5, out)


# --- real Redis -------------------------------------------------------------------------------------------------


def _stream_entries(client: redis.Redis, keys: Keys) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = []
    for domain in DOMAINS:
        entries.extend(fields for _, fields in client.xrange(keys.events(domain)))
    return entries


def _total_len(client: redis.Redis, keys: Keys) -> int:
    return sum(int(client.xlen(keys.events(domain))) for domain in DOMAINS)


def test_ten_simulated_minutes_land_in_the_raw_streams(r: redis.Redis, keys: Keys, city: City) -> None:
    written = run_simulation(r, keys, city, "normal-day", seed=SEED, speed=3600, duration_s=600)
    assert written > 100
    assert _total_len(r, keys) == written
    for fields in _stream_entries(r, keys):
        parse_event(fields)


def test_stop_event_ends_a_real_time_run_promptly(r: redis.Redis, keys: Keys, city: City) -> None:
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    began = time.monotonic()
    try:
        written = run_simulation(r, keys, city, "normal-day", seed=SEED, speed=1.0, stop=stop)
    finally:
        timer.cancel()
    assert time.monotonic() - began < 1.5
    assert _total_len(r, keys) == written


def test_rate_cap_and_limit(r: redis.Redis, keys: Keys, city: City) -> None:
    began = time.monotonic()
    written = run_simulation(r, keys, city, "normal-day", seed=SEED, speed=86_400, rate=1000, limit=600)
    assert written == 600 == _total_len(r, keys)
    assert time.monotonic() - began > 0.3  # 200 events of burst, then 1000/s


def test_write_events_appends_everything(r: redis.Redis, keys: Keys, city: City, scenario: Scenario) -> None:
    events = _take(generate(city, scenario, SEED, MONDAY), 1234)
    assert write_events(r, keys, events, maxlen=10_000) == 1234
    assert _total_len(r, keys) == 1234
    assert [e.fields for e in events if e.domain == "wifi"] == [fields for _, fields in r.xrange(keys.events("wifi"))]


def _eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _terminate(server: EmbeddedRedis) -> None:
    """Stop a server with SIGTERM (Redis saves and exits); quicker than a SHUTDOWN through a retrying client."""
    if server.process is not None:
        server.process.terminate()
        server.process.wait(timeout=10)
        server.process = None


def test_a_redis_outage_delays_but_loses_nothing(
    tmp_path: Path, city: City, scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="simulators.runner")
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    client = connect_url(server.url, socket_timeout=1.0)
    keys = Keys("outage")
    start = MONDAY + timedelta(hours=8)
    expected = len(_span(city, scenario, SEED, start, 0.5))
    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(
            run_simulation(client, keys, city, "normal-day", seed=SEED, speed=900, start=start, duration_s=1800)
        )
    )
    try:
        runner.start()
        _eventually(lambda: _total_len(client, keys) > 0)
        _terminate(server)
        _eventually(lambda: any("Redis unavailable" in m for m in caplog.messages), timeout_s=20)
        server.start()
        runner.join(timeout=20)
        assert not runner.is_alive()
        assert result == [expected]
        assert _total_len(client, keys) >= expected  # at least once: a retried batch may have partly landed
    finally:
        client.close()
        _terminate(server)


def test_a_run_against_no_redis_keeps_retrying_until_stopped(city: City, tmp_path: Path) -> None:
    client = redis.Redis(unix_socket_path=str(tmp_path / "nobody.sock"), socket_connect_timeout=0.2)
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    began = time.monotonic()
    try:
        written = run_simulation(client, Keys("void"), city, "normal-day", seed=1, speed=3600, stop=stop)
    finally:
        timer.cancel()
        client.close()
    assert written == 0
    assert 0.9 < time.monotonic() - began < 2.0


def test_a_stream_key_of_the_wrong_type_is_waited_out_not_a_crash(
    r: redis.Redis, keys: Keys, city: City, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone SETs a raw stream key: the simulator logs the refusal and retries (the aggregator moves the key
    aside); once appends work again, every event is written."""
    for domain in DOMAINS:
        r.set(keys.events(domain), "oops")
    written: list[int] = []
    worker = threading.Thread(
        target=lambda: written.append(run_simulation(r, keys, city, "normal-day", seed=SEED, speed=86_400, limit=50)),
        daemon=True,
    )
    with caplog.at_level(logging.ERROR, logger="simulators.runner"):
        worker.start()
        deadline = time.monotonic() + 10
        while not any("refused" in rec.getMessage() for rec in caplog.records):
            assert time.monotonic() < deadline and worker.is_alive(), "the refusal was not logged"
            time.sleep(0.02)
        r.delete(*(keys.events(domain) for domain in DOMAINS))
        worker.join(timeout=20)
    assert written == [50]
    assert sum(r.xlen(keys.events(domain)) for domain in DOMAINS) == 50
