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
    """A stored minute as segment -> [speed_sum, weight].

    Also reads the form written before 2026-11-22 (`<segment>:s` and `<segment>:w`, one integer each), so an
    upgrade keeps its last day of roll-ups; a segment's one-field value, written since, supersedes its pair. A
    field in neither form is skipped, so a damaged hash can neither stop the aggregator nor the wall's chart.
    """
    totals: dict[str, list[int]] = {}
    earlier: dict[str, list[int]] = {}
    for name, value in stored.items():
        parts = value.split(" ")
        try:
            if len(parts) == 2:
                totals[name] = [int(parts[0]), int(parts[1])]
            elif name.endswith((":s", ":w")):
                earlier.setdefault(name[:-2], [0, 0])[0 if name.endswith(":s") else 1] = int(value)
        except ValueError:
            continue
    return earlier | totals


def mean_speed_kmh(speed_sum: int, weight: int) -> float | None:
    """The vehicle-weighted mean speed of stored totals, or None with no weight."""
    return speed_sum / weight / 10 if weight > 0 else None
