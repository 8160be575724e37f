"""The managers' page: `page` registers it (REVIEW_INCIDENTS), `report` holds its callbacks (the figures, and the
exports, which also need EXPORT_REPORTS)."""
