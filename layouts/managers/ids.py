"""The managers' page's component ids, each defined once and prefixed with `managers-`: the page's folder name, as
tests/test_app_factory.py requires (CSS classes keep the short `mgr-`)."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "managers-"

ROOT: Final = "managers-root"
LANG: Final = "managers-lang"
# Controls
PERIOD: Final = "managers-period"
DATES: Final = "managers-dates"
TYPES: Final = "managers-types"
WARDS: Final = "managers-wards"
SEVERITIES: Final = "managers-severities"
EXPORT_CSV: Final = "managers-export-csv"
EXPORT_XLSX: Final = "managers-export-xlsx"
DOWNLOAD: Final = "managers-download"
# What the figures fill in
MESSAGE: Final = "managers-message"
EXPORT_MESSAGE: Final = "managers-export-message"
SUMMARY: Final = "managers-summary"
KPIS: Final = "managers-kpis"
CHART_OPENED: Final = "managers-chart-opened"
CHART_QUALITY: Final = "managers-chart-quality"
CHART_TYPES: Final = "managers-chart-types"
CHART_WARDS: Final = "managers-chart-wards"
CHART_HOURS: Final = "managers-chart-hours"
CHART_DAYS: Final = "managers-chart-days"
CHARTS: Final = (CHART_OPENED, CHART_QUALITY, CHART_TYPES, CHART_WARDS, CHART_HOURS, CHART_DAYS)
