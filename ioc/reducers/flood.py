"""Floods: each station's alarm level (BĐ I–III, with hysteresis on the way down) and each rain gauge's 24-hour
total and class, with alerts when a level changes or rain turns heavy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

from ioc.documents import GaugeDoc, StationDoc, alarm_text
from ioc.events import Reading
from ioc.reducers.base import Batch, Checked, Reducer, sensor_alert
from ioc.rules import Severity, StationAlarm, alarm_severity, next_station_alarm, rain_class

WATER_LEVEL: Final = "flood.water_level.observed"
RAIN: Final = "flood.rain.observed"
RAIN_WINDOW_H: Final = 24
HEAVY_RAIN: Final = ("heavy", "very_heavy")


class FloodReducer(Reducer):
    """Water levels from hydrological stations and rainfall from rain gauges."""

    domain = "flood"
    state = ("lastseen", "stations", "gauges")
    sources: ClassVar[Mapping[str, tuple[str, ...]]] = {WATER_LEVEL: ("water_station",), RAIN: ("rain_gauge",)}

    def apply(self, readings: list[Checked], b: Batch) -> None:
        """Each reading in order: a level moves its station's alarm, rain adds to its gauge's day."""
        b.each(self.domain, readings, lambda r: self._apply(r, b))

    def _apply(self, r: Reading, b: Batch) -> None:
        b.see(r)
        if r.type == WATER_LEVEL:
            self._water_level(r, b)
        elif r.type == RAIN:
            self._rain(r, b)

    def _water_level(self, r: Reading, b: Batch) -> None:
        sensor = self.city.sensors[r.sensor]
        assert sensor.alarm_levels_m is not None  # guaranteed by the city loader for water stations
        at, level = r.at, r.values["level_m"]
        stations = b.state["stations"]
        current = stations.get(sensor.id, {})
        if current.get("ts") is not None and at < current["ts"]:
            return
        before = StationAlarm(alarm=int(current.get("alarm", 0)), below_since=current.get("below_since"))
        after = next_station_alarm(before, level, at, sensor.alarm_levels_m, self.hysteresis)
        doc: StationDoc = {"level_m": round(level, 3), "alarm": after.alarm, "below_since": after.below_since, "ts": at}
        stations[sensor.id] = doc
        b.changed["stations"].add(sensor.id)
        if after.alarm == before.alarm:
            return
        # Rising water takes the new level's severity; receding water is news, not an alarm.
        severity = alarm_severity(after.alarm) if after.alarm > before.alarm else "info"
        old, new = alarm_text(before.alarm), alarm_text(after.alarm)
        b.alert(sensor_alert("flood.level.changed", at, sensor, old, new, severity))
        alert_key = f"flood:{sensor.id}"
        if after.alarm >= 1:
            b.activate(
                alert_key,
                sensor_alert(
                    "flood.level.changed", at, sensor, old, new, alarm_severity(after.alarm), level=after.alarm
                ),
            )
        else:
            b.deactivate(alert_key)

    def _rain(self, r: Reading, b: Batch) -> None:
        sensor = self.city.sensors[r.sensor]
        at = r.at
        gauges = b.state["gauges"]
        current = gauges.get(sensor.id, {})
        hours: dict[str, float] = dict(current.get("hours", {}))
        hour = int(at) // 3600
        hours[str(hour)] = round(hours.get(str(hour), 0.0) + r.values["rain_mm"], 2)
        newest_hour = max(int(h) for h in hours)
        hours = {h: mm for h, mm in hours.items() if int(h) > newest_hour - RAIN_WINDOW_H}
        total = round(sum(hours.values()), 2)
        old_class = current.get("rain_class", "none")
        new_class = rain_class(total)
        doc: GaugeDoc = {
            "hours": hours,
            "rain_1h_mm": hours.get(str(newest_hour), 0.0),
            "rain_24h_mm": total,
            "rain_class": new_class,
            "ts": max(at, current.get("ts") or at),
        }
        gauges[sensor.id] = doc
        b.changed["gauges"].add(sensor.id)
        if new_class != old_class and (new_class in HEAVY_RAIN or old_class in HEAVY_RAIN):
            severity: Severity = "warning" if new_class in HEAVY_RAIN else "info"
            b.alert(sensor_alert("flood.rain.changed", at, sensor, old_class, new_class, severity))
