"""The per-minute speed roll-up's stored form, shared by its writer (the aggregator) and its readers (the pages).

One hash per minute (`Keys.speed_minute`), one field per road segment, the value `"<speed_sum> <weight>"`:
speed_sum = Σ(speed in tenths of km/h × vehicles) and weight = Σ vehicles (at least 1 per report), both
integers, so the minute's vehicle-weighted mean speed is speed_sum / weight / 10 km/h. One field per segment
keeps a minute under Redis's compact-hash size, where each write of a field is cheap.
"""

from __future__ import annotations

from collections.abc import Mapping


def encode_totals(speed_sum: int, weight: int) -> str:
    """The stored value of one segment's totals for a minute."""
    return f"{speed_sum} {weight}"


def decode_minute(stored: Mapping[str, str]) -> dict[str, list[int]]:
    """A stored minute as segment -> [speed_sum, weight]; a malformed field raises ValueError."""
    totals: dict[str, list[int]] = {}
    for segment, value in stored.items():
        speed_sum, weight = value.split(" ")
        totals[segment] = [int(speed_sum), int(weight)]
    return totals


def mean_speed_kmh(speed_sum: int, weight: int) -> float | None:
    """The vehicle-weighted mean speed of stored totals, or None with no weight."""
    return speed_sum / weight / 10 if weight > 0 else None
