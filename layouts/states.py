"""The state names a map marker, a road segment or a KPI tile can be in, declared once for Python, the map's
JavaScript and the CSS: the server sends these names, assets/wall_map.js ranks them with MARKER_RANKS (given to it
in the page, see script()), and assets/wall.css colours `.wall-state--<name>` and `.wall-seg--<band>`
(tests/test_states.py checks the stylesheet against this list)."""

from __future__ import annotations

import json
from typing import Final, get_args

from ioc.documents import HealthStatus
from ioc.rules import RainClass, SpeedBand

ALARM_LEVELS: Final = (0, 1, 2, 3)  # below BĐ I, BĐ I..III


def alarm_state(level: int) -> str:
    """A water-level station's state: a0..a3."""
    return f"a{level}"


def rain_state(rain_class: RainClass) -> str:
    """A rain gauge's state: rain-<class>."""
    return f"rain-{rain_class}"


BAND_STATES: Final[tuple[SpeedBand, ...]] = get_args(SpeedBand)
HOTSPOT_STATES: Final = ("ok", "busy")
HEALTH_STATES: Final[tuple[HealthStatus, ...]] = get_args(HealthStatus)

# How bad each state is: a marker cluster takes the worst state inside it, and worse markers are drawn on top.
# Left unformatted: one line per band of ranks reads as the scale it is.
MARKER_RANKS: Final[dict[str, int]] = {
    "unknown": 0, "ok": 1, "online": 1, "smooth": 1, alarm_state(0): 1, rain_state("none"): 1,
    rain_state("light"): 2, "slow": 3, "busy": 3, rain_state("moderate"): 3,
    "offline": 4, "fault": 4, alarm_state(1): 5, "congested": 6, rain_state("heavy"): 6,
    alarm_state(2): 7, rain_state("very_heavy"): 7, alarm_state(3): 9,
}  # fmt: skip
MARKER_STATES: Final = tuple(MARKER_RANKS)
# Line width also tells a segment's band, for readers who cannot tell the colours apart.
SEGMENT_WEIGHTS: Final[dict[SpeedBand, int]] = {"congested": 7, "slow": 5, "smooth": 4, "unknown": 3}


def script() -> str:
    """The page script that hands these tables to assets/wall_map.js (before the assets load)."""
    tables = {"ranks": MARKER_RANKS, "weights": SEGMENT_WEIGHTS}
    return f"window.iocStates = {json.dumps(tables, separators=(',', ':'))};"
