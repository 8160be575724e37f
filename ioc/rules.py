"""Domain rules: speed bands (Seoul TOPIS), flood alarm levels with hysteresis (Decision 05/2020/QĐ-TTg), rain classes.

Pure functions and small value types: the aggregator applies them, the tests pin them down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

SpeedBand = Literal["congested", "slow", "smooth", "unknown"]
RainClass = Literal["none", "light", "moderate", "heavy", "very_heavy"]
Severity = Literal["info", "warning", "critical"]  # of an alert; critical takes over the wall

# TOPIS bands, km/h: (congested at or below, slow below) for arterials and for urban expressways.
ARTERIAL_BANDS: Final = (15.0, 25.0)
EXPRESSWAY_BANDS: Final = (30.0, 50.0)
# A congested segment is declared clear only once its speed rises this far above the congested line,
# so a segment hovering at the line does not flood the alerts stream.
CONGESTION_CLEAR_MARGIN_KMH: Final = 3.0

# Rain in 24 h (mm), Vietnamese bulletins: moderate 16–50, heavy 51–100, very heavy > 100.
# Each pair is (the class starts above this total, class); checked from the top.
RAIN_CLASS_FLOORS: Final[tuple[tuple[float, RainClass], ...]] = (
    (100.0, "very_heavy"),
    (50.0, "heavy"),
    (15.0, "moderate"),
    (0.0, "light"),
)

ALARM_NAMES: Final = ("none", "BĐ I", "BĐ II", "BĐ III")


def band_thresholds(road_class: str) -> tuple[float, float]:
    """The (congested, slow) speed lines for a road class: expressway bands for expressways, else arterial."""
    return EXPRESSWAY_BANDS if road_class == "expressway" else ARTERIAL_BANDS


def speed_band(speed_kmh: float | None, road_class: str) -> SpeedBand:
    """TOPIS band of a mean speed: congested at or below the first line, smooth at or above the second."""
    if speed_kmh is None:
        return "unknown"
    congested_at, smooth_at = band_thresholds(road_class)
    if speed_kmh <= congested_at:
        return "congested"
    if speed_kmh < smooth_at:
        return "slow"
    return "smooth"


def next_congested(was_congested: bool, speed_kmh: float, road_class: str) -> bool:
    """Congestion with hysteresis: enter at the congested line, leave only above it by a margin."""
    congested_at, _ = band_thresholds(road_class)
    if was_congested:
        return speed_kmh < congested_at + CONGESTION_CLEAR_MARGIN_KMH
    return speed_kmh <= congested_at


def alarm_for_level(level_m: float, alarm_levels_m: tuple[float, float, float]) -> int:
    """The BĐ level (0..3) a water level reaches, with no hysteresis."""
    return sum(1 for line in alarm_levels_m if level_m >= line)


@dataclass(frozen=True)
class FloodHysteresis:
    """How a flood alarm comes down: the water must stay `margin_m` below the line for `hold_s` seconds."""

    margin_m: float = 0.10
    hold_s: float = 30 * 60


@dataclass(frozen=True)
class StationAlarm:
    """A station's alarm state between readings: the level and since when the water has been low enough to drop."""

    alarm: int
    below_since: float | None  # event time the water first went below (current line - margin), if it still is


def next_station_alarm(
    state: StationAlarm,
    level_m: float,
    at: float,
    alarm_levels_m: tuple[float, float, float],
    hysteresis: FloodHysteresis,
) -> StationAlarm:
    """Step a station's alarm for one reading: rise at once, fall one level at a time after the hold time.

    Falling one level at a time (III → II → I → none), each after its own hold, follows the way bulletins
    announce receding water; a fast drop still reaches the right level after enough readings.
    """
    raw = alarm_for_level(level_m, alarm_levels_m)
    if raw >= state.alarm:
        return StationAlarm(alarm=raw, below_since=None)
    release_line = alarm_levels_m[state.alarm - 1] - hysteresis.margin_m
    if level_m >= release_line:
        return StationAlarm(alarm=state.alarm, below_since=None)
    since = state.below_since if state.below_since is not None else at
    if at - since >= hysteresis.hold_s:
        lowered = state.alarm - 1
        # The next level down starts its own hold now, unless the water is already at or above that level.
        return StationAlarm(alarm=lowered, below_since=at if raw < lowered else None)
    return StationAlarm(alarm=state.alarm, below_since=since)


def rain_class(rain_24h_mm: float) -> RainClass:
    """Class of a 24-hour rain total by the Vietnamese forecast thresholds."""
    for floor, name in RAIN_CLASS_FLOORS:
        if rain_24h_mm > floor:
            return name
    return "none"


def alarm_severity(alarm: int) -> Severity:
    """Alert severity of a flood alarm level: BĐ III threatens life and takes over the wall."""
    return "critical" if alarm >= 3 else "warning" if alarm >= 1 else "info"
