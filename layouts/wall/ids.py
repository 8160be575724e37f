"""The wall's component ids, each defined once and prefixed with the page's name."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "wall-"

ROOT: Final = "wall-root"
INTERVAL: Final = "wall-interval"
LANG: Final = "wall-lang"
CLIENT: Final = "wall-client"
HEARTBEAT: Final = "wall-heartbeat"
ALARM: Final = "wall-alarm"
PUSH: Final = "wall-push"  # a count the push stream bumps (assets/wall_push.js): the tick runs at once
PUSH_URL: Final = "wall-push-url"  # the push stream's address, None when push is off
CLOCK: Final = "wall-clock"
KPIS: Final = "wall-kpis"
# Pattern-matching id types: {"type": KPI_VALUE, "kpi": key}, {"type": GAUGE_FILL, "station": sensor id}, ...
KPI: Final = "wall-kpi"
KPI_VALUE: Final = "wall-kpi-value"
KPI_SUB: Final = "wall-kpi-sub"
GAUGE: Final = "wall-gauge"
GAUGE_VALUE: Final = "wall-gauge-value"
GAUGE_BADGE: Final = "wall-gauge-badge"
GAUGE_FILL: Final = "wall-gauge-fill"
MAP: Final = "wall-map"
SEGMENTS: Final = "wall-segments"
CAMERAS: Final = "wall-cameras"
SPEED_CAMERAS: Final = "wall-speed-cameras"
STATIONS: Final = "wall-stations"
RAIN_GAUGES: Final = "wall-rain-gauges"
HOTSPOTS: Final = "wall-hotspots"
MAP_DELTA: Final = "wall-map-delta"  # the map's states changed since the browser's version (the tick sets it)
CHART: Final = "wall-chart"
FLOOD: Final = "wall-flood"
ALERTS: Final = "wall-alerts"
STALE: Final = "wall-stale"
STALE_CLIENT: Final = "wall-stale-client"
TAKEOVER: Final = "wall-takeover"
INCIDENTS_PANEL: Final = "wall-incidents-panel"
INCIDENTS: Final = "wall-incidents"
INCIDENTS_INTERVAL: Final = "wall-incidents-interval"
INCIDENTS_SEEN: Final = "wall-incidents-seen"
REPLAY: Final = "wall-replay"  # the browser's replay: {"ns": its namespace} or None (live)
REPLAY_BAR: Final = "wall-replay-bar"
REPLAY_OPEN: Final = "wall-replay-open"
REPLAY_PANEL: Final = "wall-replay-panel"
REPLAY_SLIDER: Final = "wall-replay-slider"
REPLAY_PLAY: Final = "wall-replay-play"
REPLAY_SPEED: Final = "wall-replay-speed"
REPLAY_LIVE: Final = "wall-replay-live"
REPLAY_REACH: Final = "wall-replay-reach"
REPLAY_STATUS: Final = "wall-replay-status"
REPLAY_MARKER: Final = "wall-replay-marker"
REPLAY_INTERVAL: Final = "wall-replay-interval"
REPLAY_SOURCE: Final = "wall-replay-source"  # a trainer's choice of what to replay: live or an exercise
