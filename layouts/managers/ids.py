"""The managers' page's component ids, each defined once and prefixed with `mgr-`."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "mgr-"

ROOT: Final = "mgr-root"
LANG: Final = "mgr-lang"
# Controls
PERIOD: Final = "mgr-period"
DATES: Final = "mgr-dates"
TYPES: Final = "mgr-types"
WARDS: Final = "mgr-wards"
SEVERITIES: Final = "mgr-severities"
EXPORT_CSV: Final = "mgr-export-csv"
EXPORT_XLSX: Final = "mgr-export-xlsx"
DOWNLOAD: Final = "mgr-download"
# What the figures fill in
MESSAGE: Final = "mgr-message"
EXPORT_MESSAGE: Final = "mgr-export-message"
SUMMARY: Final = "mgr-summary"
KPIS: Final = "mgr-kpis"
CHART_OPENED: Final = "mgr-chart-opened"
CHART_QUALITY: Final = "mgr-chart-quality"
CHART_TYPES: Final = "mgr-chart-types"
CHART_WARDS: Final = "mgr-chart-wards"
CHART_HOURS: Final = "mgr-chart-hours"
CHART_DAYS: Final = "mgr-chart-days"
CHARTS: Final = (CHART_OPENED, CHART_QUALITY, CHART_TYPES, CHART_WARDS, CHART_HOURS, CHART_DAYS)
