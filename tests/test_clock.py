"""The namespace's clock: the event-time rule, simulated-time declarations, the simulator declaring and continuing
its clock, and `ioc clock`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis

from ioc.city import City
from ioc.clock import (
    REAL_TIME,
    Timebase,
    TimeCheck,
    declare_simulated,
    decode_timebase,
    read_timebase,
    receive_time,
    span,
)
from ioc.keys import Keys
from simulators import run_simulation
from tests.test_cli import cli_env, ioc

ICT = timezone(timedelta(hours=7))
NOW = 1_796_083_200.0  # 2026-12-01 00:00 UTC


def test_real_time_accepts_five_minutes_ahead_and_a_day_behind() -> None:
    check = TimeCheck()
    assert check.problem(REAL_TIME, NOW + 299, NOW) == ""
    assert check.problem(REAL_TIME, NOW - 86_399, NOW) == ""
    ahead = check.problem(REAL_TIME, datetime(2099, 1, 1, tzinfo=ICT).timestamp(), NOW)
    assert ahead.startswith("ts is 72 years ahead of receive time; at most 5 min ahead")
    assert check.problem(REAL_TIME, NOW + 301, NOW).startswith("ts is 5 min ahead")
    assert check.problem(REAL_TIME, NOW - 3 * 86_400, NOW).startswith("ts is 3 days behind receive time")


def test_a_simulated_clock_moves_the_accepted_window_and_widens_it_only_for_delivery() -> None:
    replay_day = datetime(2022, 10, 15, 6, 0, tzinfo=ICT).timestamp()
    sixty = Timebase(sim=replay_day, real=NOW, speed=60.0, source="simulator flood")
    check = TimeCheck(max_ahead_s=300, max_behind_s=86_400)
    # Ten real seconds later the simulated clock is ten minutes on.
    assert sixty.expected(NOW + 10) == replay_day + 600
    assert check.problem(sixty, replay_day + 600, NOW + 10) == ""
    # Ahead: 5 min, and 30 real seconds of delivery = 30 simulated minutes at x60 (less half a minute).
    assert check.problem(sixty, replay_day + 600 + 34 * 60, NOW + 10) == ""
    assert check.problem(sixty, replay_day + 600 + 4 * 3600, NOW + 10).startswith("ts is 4 h ahead")
    # Behind: a day of city time (not 60 days), and the same delivery allowance.
    assert check.problem(sixty, replay_day + 600 - 86_400 - 20 * 60, NOW + 10) == ""
    assert "behind the simulated clock" in check.problem(sixty, replay_day + 600 - 2 * 86_400, NOW + 10)
    assert check.problem(sixty, replay_day + 600 - 60 * 86_400, NOW + 10).startswith("ts is 60 days behind")
    assert "ahead of the simulated clock (×60, simulator flood)" in check.problem(sixty, NOW, NOW + 10)
    low, high = check.window(sixty, NOW, NOW + 5)
    assert (low, high) == check.bounds(sixty, NOW + 5)[:1] + check.bounds(sixty, NOW)[1:]


def test_stored_declarations_are_trusted_only_when_whole() -> None:
    declared = Timebase(sim=1000.0, real=2000.0, speed=60.0, source="s")
    assert decode_timebase(declared.encode()) == declared
    for damaged in (
        {"sim": "x", "real": "1", "speed": "1"},
        {"sim": "1", "real": "1", "speed": "0"},
        {"sim": "nan", "real": "1", "speed": "1"},
        {"real": "1"},
        {},
    ):
        assert decode_timebase(damaged) == REAL_TIME


def test_receive_time_is_never_later_than_now() -> None:
    assert receive_time("1796083200000-0", NOW + 1) == NOW
    assert receive_time("99999999999999-5", NOW) == NOW  # a producer chose a future id
    assert [span(s) for s in (40, 720, 5 * 3600, 3 * 86_400, 72 * 365.25 * 86_400)] == [
        "40 s",
        "12 min",
        "5 h",
        "3 days",
        "72 years",
    ]


def test_the_simulator_declares_its_clock_and_a_restart_continues_it(r: redis.Redis, keys: Keys, city: City) -> None:
    start = datetime(2026, 1, 5, 6, 0, tzinfo=ICT)
    run_simulation(r, keys, city, "normal-day", seed=3, speed=3600, start=start, duration_s=600)
    declared = read_timebase(r, keys)
    assert declared.simulated and declared.speed == 3600 and declared.source == "simulator normal-day"
    assert declared.sim == start.timestamp()
    # Restarted without --start (as `ioc run` restarts a dead simulator): it goes on from the declared clock.
    run_simulation(r, keys, city, "normal-day", seed=3, speed=3600, duration_s=600)
    again = read_timebase(r, keys)
    # At x3600 every real second between the runs and this read is an hour more: a day's margin for a busy machine,
    # still far from a new day begun at the scenario's start (below) or at today's date (above).
    assert again.sim is not None and start.timestamp() + 600 <= again.sim < start.timestamp() + 24 * 3600


def test_ioc_clock_shows_and_clears_the_declaration(tmp_path: Path, redis_url: str, r: redis.Redis, keys: Keys) -> None:
    env = cli_env(tmp_path, IOC_REDIS_URL=redis_url, IOC_NAMESPACE=keys.namespace)
    shown = ioc("clock", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"namespace": keys.namespace, "mode": "real"}
    declare_simulated(r, keys, start=NOW, speed=60, source="simulator normal-day")
    shown = ioc("clock", env=env)
    assert "simulated time x60" in shown.stdout and "simulator normal-day" in shown.stdout
    cleared = ioc("clock", "--real", "--json", env=env)
    assert cleared.returncode == 0 and json.loads(cleared.stdout)["mode"] == "real"
    assert not r.exists(keys.clock())


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan")])
def test_a_clock_needs_a_positive_speed(r: redis.Redis, keys: Keys, speed: float) -> None:
    with pytest.raises(ValueError, match="positive speed"):
        declare_simulated(r, keys, start=NOW, speed=speed, source="x")
