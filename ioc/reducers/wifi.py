"""Public wifi: a hotspot's latest usage and last-seen time are all the state it needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from ioc.reducers.base import Batch, Checked, Reducer


class WifiReducer(Reducer):
    """Usage reports from public wifi hotspots."""

    domain = "wifi"
    state = ("lastseen",)
    sources: ClassVar[Mapping[str, tuple[str, ...]]] = {"wifi.usage.observed": ("wifi_hotspot",)}

    def apply(self, readings: list[Checked], b: Batch) -> None:
        """Each report becomes its hotspot's latest reading."""
        b.each(self.domain, readings, b.see)
