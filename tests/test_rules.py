"""Unit tests of the domain rules: speed bands, congestion hysteresis, flood alarms with hysteresis, rain classes."""

from __future__ import annotations

import pytest

from ioc.rules import (
    FloodHysteresis,
    StationAlarm,
    alarm_for_level,
    next_congested,
    next_station_alarm,
    rain_class,
    speed_band,
)

TAM_KY = (1.70, 2.20, 2.70)


@pytest.mark.parametrize(
    ("speed", "road_class", "band"),
    [
        (None, "arterial", "unknown"),
        (0.0, "arterial", "congested"),
        (15.0, "arterial", "congested"),
        (15.1, "arterial", "slow"),
        (24.9, "arterial", "slow"),
        (25.0, "arterial", "smooth"),
        (40.0, "national", "smooth"),
        (30.0, "expressway", "congested"),
        (45.0, "expressway", "slow"),
        (50.0, "expressway", "smooth"),
    ],
)
def test_speed_band_follows_topis_lines(speed: float | None, road_class: str, band: str) -> None:
    assert speed_band(speed, road_class) == band


def test_congestion_enters_at_the_line_and_leaves_only_above_the_margin() -> None:
    assert next_congested(False, 15.0, "arterial") is True
    assert next_congested(False, 15.5, "arterial") is False
    assert next_congested(True, 17.0, "arterial") is True  # within the 3 km/h margin: still congested
    assert next_congested(True, 18.0, "arterial") is False
    assert next_congested(True, 32.0, "expressway") is True
    assert next_congested(True, 33.0, "expressway") is False


@pytest.mark.parametrize(("level", "alarm"), [(0.5, 0), (1.69, 0), (1.70, 1), (2.2, 2), (2.69, 2), (2.7, 3), (4.0, 3)])
def test_alarm_for_level_uses_the_tam_ky_lines(level: float, alarm: int) -> None:
    assert alarm_for_level(level, TAM_KY) == alarm


def test_flood_alarm_rises_at_once_and_falls_only_after_hold() -> None:
    h = FloodHysteresis(margin_m=0.10, hold_s=600)
    state = StationAlarm(alarm=0, below_since=None)
    state = next_station_alarm(state, 2.75, 0, TAM_KY, h)
    assert state.alarm == 3
    # Just under the line but within the margin: no countdown starts.
    state = next_station_alarm(state, 2.65, 60, TAM_KY, h)
    assert state == StationAlarm(alarm=3, below_since=None)
    # Below line - margin: the countdown starts, the level holds.
    state = next_station_alarm(state, 2.50, 120, TAM_KY, h)
    assert state == StationAlarm(alarm=3, below_since=120)
    state = next_station_alarm(state, 2.50, 600, TAM_KY, h)
    assert state.alarm == 3
    # Bouncing back up within the margin cancels the countdown.
    state = next_station_alarm(state, 2.65, 650, TAM_KY, h)
    assert state == StationAlarm(alarm=3, below_since=None)
    state = next_station_alarm(state, 2.50, 700, TAM_KY, h)
    state = next_station_alarm(state, 2.50, 1300, TAM_KY, h)
    assert state.alarm == 2  # held 600 s below 2.60 m
    # Water at 2.50 is above BĐ II: no countdown for II yet.
    assert state.below_since is None


def test_flood_alarm_falls_one_level_per_hold_when_water_drops_fast() -> None:
    h = FloodHysteresis(margin_m=0.10, hold_s=600)
    state = StationAlarm(alarm=3, below_since=None)
    state = next_station_alarm(state, 0.8, 0, TAM_KY, h)
    assert state.alarm == 3
    state = next_station_alarm(state, 0.8, 600, TAM_KY, h)
    assert state == StationAlarm(alarm=2, below_since=600)
    state = next_station_alarm(state, 0.8, 1200, TAM_KY, h)
    assert state == StationAlarm(alarm=1, below_since=1200)
    state = next_station_alarm(state, 0.8, 1799, TAM_KY, h)
    assert state.alarm == 1
    state = next_station_alarm(state, 0.8, 1800, TAM_KY, h)
    assert state.alarm == 0


@pytest.mark.parametrize(
    ("mm", "name"),
    [
        (0.0, "none"),
        (0.2, "light"),
        (15.0, "light"),
        (16.0, "moderate"),
        (50.0, "moderate"),
        (51.0, "heavy"),
        (100.0, "heavy"),
        (100.5, "very_heavy"),
        (300.0, "very_heavy"),
    ],
)
def test_rain_class_follows_vietnamese_24h_thresholds(mm: float, name: str) -> None:
    assert rain_class(mm) == name
