"""The trainer's page's component ids, each defined once and prefixed with the page's name."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "exercises-"

ROOT: Final = "exercises-root"
LANG: Final = "exercises-lang"
POLL: Final = "exercises-poll"
MESSAGE: Final = "exercises-message"
# Create
NAME: Final = "exercises-name"
SCENARIO: Final = "exercises-scenario"
SPEED: Final = "exercises-speed"
TRAINEES: Final = "exercises-trainees"
CREATE: Final = "exercises-create"
# The list and the selected exercise
LIST: Final = "exercises-list"
SELECTED: Final = "exercises-selected"
STATUS: Final = "exercises-status"
START: Final = "exercises-start"
PAUSE: Final = "exercises-pause"
RESUME: Final = "exercises-resume"
STOP: Final = "exercises-stop"
RESET: Final = "exercises-reset"
NEW_SPEED: Final = "exercises-new-speed"
SET_SPEED: Final = "exercises-set-speed"
JUMP_MINUTES: Final = "exercises-jump-minutes"
JUMP: Final = "exercises-jump"
# Inject by hand
INJECT_FROM: Final = "exercises-inject-from"
INJECT_TO: Final = "exercises-inject-to"
INJECT_TEXT: Final = "exercises-inject-text"
INJECT: Final = "exercises-inject"
# Inject on the map (layouts/exercises/inject_map.py)
MAP: Final = "exercises-map"
MAP_POINT: Final = "exercises-map-point"
MAP_KIND: Final = "exercises-map-kind"
MAP_PLACE: Final = "exercises-map-place"
MAP_INJECT: Final = "exercises-map-inject"
REPORT_LINK: Final = "exercises-aar-link"  # not REPORT_PREFIX: a part of the trainer's page
# What the selected exercise shows
RESPONSES: Final = "exercises-responses"
ACTIONS: Final = "exercises-actions"
MESSAGES: Final = "exercises-messages"
# The after-action report page (layouts/exercises/report.py)
REPORT_PREFIX: Final = "exercises-report-"
REPORT_ROOT: Final = "exercises-report-root"
REPORT_LANG: Final = "exercises-report-lang"
REPORT_LANG_SWITCH: Final = "exercises-report-lang-switch"
REPORT_SELECT: Final = "exercises-report-select"
REPORT_MESSAGE: Final = "exercises-report-message"
REPORT_BODY: Final = "exercises-report-body"
REPORT_CHART: Final = "exercises-report-chart"
REPORT_XLSX: Final = "exercises-report-xlsx"
REPORT_PDF: Final = "exercises-report-pdf"
REPORT_DOWNLOAD: Final = "exercises-report-download"
