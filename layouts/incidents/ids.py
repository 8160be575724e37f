"""The incidents page's component ids, each defined once and prefixed with the page's name."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "incidents-"

ROOT: Final = "incidents-root"
LANG: Final = "incidents-lang"
MESSAGE: Final = "incidents-message"
# Polling for changes: the interval, and the change marker the table was last loaded at
POLL: Final = "incidents-poll"
MARKER: Final = "incidents-marker"
# Filters
STATUS: Final = "incidents-filter-status"
TYPE: Final = "incidents-filter-type"
SEVERITY: Final = "incidents-filter-severity"
WARD: Final = "incidents-filter-ward"
PERIOD: Final = "incidents-filter-period"
DATES: Final = "incidents-filter-dates"
OVERDUE: Final = "incidents-filter-overdue"
COUNT: Final = "incidents-count"
# The table
TABLE: Final = "incidents-table"
# The detail of the selected incident: what it shows, and which incident and version it shows
SHOWN: Final = "incidents-shown"
DETAIL: Final = "incidents-detail"
# Actions on the shown incident (always in the page; the detail callback shows those the role may take)
ACTIONS: Final = "incidents-actions"
TEXT: Final = "incidents-action-text"
UNIT: Final = "incidents-action-unit"
ACKNOWLEDGE: Final = "incidents-do-acknowledge"
DISPATCH: Final = "incidents-do-dispatch"
RESOLVE: Final = "incidents-do-resolve"
CLOSE: Final = "incidents-do-close"
REOPEN: Final = "incidents-do-reopen"
COMMENT: Final = "incidents-do-comment"
# Open an incident by hand
NEW_TYPE: Final = "incidents-new-type"
NEW_SEVERITY: Final = "incidents-new-severity"
NEW_DESCRIPTION: Final = "incidents-new-description"
NEW_MAP: Final = "incidents-new-map"
NEW_PIN: Final = "incidents-new-pin"
NEW_PLACE: Final = "incidents-new-place"
NEW_POINT: Final = "incidents-new-point"
NEW_SUBMIT: Final = "incidents-new-submit"
