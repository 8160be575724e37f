"""Device health: what devices report about themselves, and the watchdog that marks a device offline when it
misses its reports and online again when data arrives, on the city clock (so a sped-up simulation behaves as real
time would)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

from ioc.city import Sensor
from ioc.documents import HealthDoc, HealthStatus
from ioc.events import Reading
from ioc.reducers.base import Batch, Checked, Reducer, sensor_alert

OFFLINE_AFTER_MISSED: Final = 3  # a device is offline once it has missed this many expected reports


class DeviceReducer(Reducer):
    """Status reports of any device, and the missed-report watchdog."""

    domain = "device"
    state = ("health",)
    sources: ClassVar[Mapping[str, tuple[str, ...]]] = {"device.status.changed": ()}  # () any kind of sensor
    watches = True

    def apply(self, readings: list[Checked], b: Batch) -> None:
        """A reported status holds until the device reports another (or data shows it is back)."""
        b.each(self.domain, readings, lambda r: self._status(r, b))

    def _status(self, r: Reading, b: Batch) -> None:
        sensor = self.city.sensors[r.sensor]
        at = r.at
        health = b.state["health"]
        current = health.get(sensor.id, {})
        if current.get("ts") is not None and at < current["ts"]:
            return
        old = current.get("status", "unknown")
        status, detail = r.values["status"], r.values["detail"]
        doc: HealthDoc = {
            "status": status,
            "since": at,
            "reason": f"reported: {detail}" if detail else "reported",
            "ts": at,
        }
        health[sensor.id] = doc
        b.changed["health"].add(sensor.id)
        if status != old:
            self._changed(b, sensor, at, old, status)

    def watch(self, clock: float, lastseen: Mapping[str, float], b: Batch) -> None:
        """Offline after OFFLINE_AFTER_MISSED missed reports; online again once reports arrive."""
        health = b.state["health"]
        for sensor in self.city.sensors.values():
            last = lastseen.get(sensor.id)
            if last is None:
                continue  # never reported: shown as unknown, not as a failure of something that worked
            current = health.get(sensor.id)
            status: HealthStatus = current.get("status", "unknown") if current else "unknown"
            since = float(current.get("since", 0.0)) if current else 0.0
            overdue = clock - last > OFFLINE_AFTER_MISSED * sensor.report_interval_s
            changed: HealthDoc | None = None
            if status in ("online", "unknown") and overdue:
                changed = {
                    "status": "offline",
                    "since": clock,
                    "reason": "missed-reports",
                    "ts": clock,
                    "last_report": last,
                }
                self._changed(b, sensor, clock, status, "offline")
            elif status == "offline" and last > since and not overdue:
                changed = {"status": "online", "since": last, "reason": "reporting", "ts": last}
                self._changed(b, sensor, last, status, "online")
            elif status == "unknown" and not overdue:
                changed = {"status": "online", "since": last, "reason": "reporting", "ts": last}
            if changed is not None:
                health[sensor.id] = changed
                b.changed["health"].add(sensor.id)

    @staticmethod
    def _changed(b: Batch, sensor: Sensor, at: float, old: str, new: str) -> None:
        b.alert(sensor_alert("device.health.changed", at, sensor, old, new, "info" if new == "online" else "warning"))
        alert_key = f"device:{sensor.id}"
        if new == "online":
            b.deactivate(alert_key)
        else:
            b.activate(alert_key, sensor_alert("device.health.changed", at, sensor, old, new, "warning", status=new))
