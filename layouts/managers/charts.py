"""The page's charts as plotly figures built from plain lists: trends over the period (incidents opened; median time
to acknowledge with the share past a limit) and counts by type, ward, hour of day and day. Dark and calm like the
wall (layouts/wall/chart.py): transparent backgrounds, thin grid, Okabe–Ito colours, a note when there is no data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ioc.i18n import t
from ioc.incidents.reports import UNKNOWN_WARD, Report
from ioc.incidents.texts import label

COUNT_COLOUR: Final = "#56B4E9"
MEDIAN_COLOUR: Final = "#E69F00"
OVERDUE_COLOUR: Final = "#CC79A7"
FONT: Final = "Inter, Roboto, 'Noto Sans', 'Liberation Sans', sans-serif"
AXIS: Final = {
    "gridcolor": "#2c3440",
    "zerolinecolor": "#2c3440",
    "linecolor": "#5b6675",
    "tickfont": {"size": 13},
    "automargin": True,
}


def base_layout(title: str, lang: str, *, empty: bool) -> dict[str, Any]:
    """The layout every chart shares: its title, dark transparent background, and a note when there is no data."""
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 16}},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": "#e8edf3", "size": 13, "family": FONT},
        "margin": {"l": 48, "r": 16, "t": 40, "b": 36},
        "showlegend": False,
        "xaxis": dict(AXIS),
        "yaxis": {**AXIS, "rangemode": "tozero"},
        "bargap": 0.15,
    }
    if empty:
        layout["annotations"] = [
            {
                "text": t("mgr.chart.no_data", lang),
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 15, "color": "#aeb8c4"},
            }
        ]
    return layout


def _bars(x: list[Any], y: list[Any], name: str, *, horizontal: bool = False) -> dict[str, Any]:
    if horizontal:
        return {
            "type": "bar",
            "orientation": "h",
            "x": y,
            "y": x,
            "name": name,
            "marker": {"color": COUNT_COLOUR},
            "hovertemplate": "%{y}: %{x}<extra></extra>",
        }
    return {
        "type": "bar",
        "x": x,
        "y": y,
        "name": name,
        "marker": {"color": COUNT_COLOUR},
        "hovertemplate": "%{x}: %{y}<extra></extra>",
    }


def opened_figure(report: Report | None, lang: str) -> dict[str, Any]:
    """Incidents opened per day (or per week for long periods)."""
    bucket = report.trend.bucket if report is not None else "day"
    starts = report.trend.starts if report is not None else []
    opened = report.trend.opened if report is not None else []
    layout = base_layout(t(f"mgr.chart.opened.{bucket}", lang), lang, empty=not any(opened))
    layout["xaxis"] = {**AXIS, "type": "date"}
    return {"data": [_bars(list(starts), list(opened), t("mgr.chart.incidents", lang))], "layout": layout}


def quality_figure(report: Report | None, lang: str) -> dict[str, Any]:
    """Median time to acknowledge (minutes, left axis) and the share past a limit (%, right axis) per bucket."""
    starts = list(report.trend.starts) if report is not None else []
    medians = [None if v is None else round(v, 2) for v in (report.trend.median_ack if report is not None else [])]
    shares = [None if v is None else round(v * 100, 2) for v in (report.trend.overdue_share if report else [])]
    layout = base_layout(t("mgr.chart.quality", lang), lang, empty=not any(v is not None for v in shares))
    layout["xaxis"] = {**AXIS, "type": "date"}
    layout["yaxis"] = {**AXIS, "rangemode": "tozero", "title": {"text": t("mgr.chart.median_ack", lang)}}
    layout["yaxis2"] = {
        **AXIS,
        "overlaying": "y",
        "side": "right",
        "range": [0, 100],
        "showgrid": False,
        "title": {"text": t("mgr.chart.overdue_share", lang)},
    }
    layout["showlegend"] = True
    layout["legend"] = {"orientation": "h", "x": 0, "y": -0.2, "font": {"size": 12}}
    layout["margin"] = {"l": 56, "r": 56, "t": 40, "b": 48}
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": starts,
            "y": medians,
            "name": t("mgr.chart.median_ack", lang),
            "line": {"color": MEDIAN_COLOUR, "width": 2},
            "marker": {"size": 4},
            "connectgaps": False,
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": list(starts),
            "y": shares,
            "yaxis": "y2",
            "name": t("mgr.chart.overdue_share", lang),
            "line": {"color": OVERDUE_COLOUR, "width": 2, "dash": "dot"},
            "connectgaps": False,
        },
    ]
    return {"data": data, "layout": layout}


def type_figure(report: Report | None, lang: str) -> dict[str, Any]:
    """Incidents per type, the most frequent on top."""
    counts = report.by_type if report is not None else {}
    names = [label("type", key, lang) for key in counts][::-1]
    layout = base_layout(t("mgr.chart.by_type", lang), lang, empty=not counts)
    layout["margin"] = {"l": 8, "r": 16, "t": 40, "b": 32}
    return {
        "data": [_bars(names, list(counts.values())[::-1], t("mgr.chart.incidents", lang), horizontal=True)],
        "layout": layout,
    }


def ward_figure(report: Report | None, lang: str, ward_names: Mapping[str, str]) -> dict[str, Any]:
    """Incidents per ward (named; an incident with no ward counted as "ward unknown"), the most on top."""
    counts = report.by_ward if report is not None else {}
    names = [t("mgr.ward.unknown", lang) if key == UNKNOWN_WARD else ward_names.get(key, key) for key in counts]
    layout = base_layout(t("mgr.chart.by_ward", lang), lang, empty=not counts)
    layout["margin"] = {"l": 8, "r": 16, "t": 40, "b": 32}
    return {
        "data": [_bars(names[::-1], list(counts.values())[::-1], t("mgr.chart.incidents", lang), horizontal=True)],
        "layout": layout,
    }


def hour_figure(report: Report | None, lang: str) -> dict[str, Any]:
    """Incidents per hour of the day, city time (00 to 23)."""
    counts = list(report.by_hour) if report is not None else [0] * 24
    layout = base_layout(t("mgr.chart.by_hour", lang), lang, empty=not any(counts))
    layout["xaxis"] = {**AXIS, "type": "category", "tickangle": 0}
    return {"data": [_bars([f"{h:02d}" for h in range(24)], counts, t("mgr.chart.incidents", lang))], "layout": layout}


def day_figure(report: Report | None, lang: str) -> dict[str, Any]:
    """Incidents per local day of the period."""
    counts = report.by_day if report is not None else {}
    layout = base_layout(t("mgr.chart.by_day", lang), lang, empty=not any(counts.values()))
    layout["xaxis"] = {**AXIS, "type": "date"}
    return {"data": [_bars(list(counts), list(counts.values()), t("mgr.chart.incidents", lang))], "layout": layout}


def figures(report: Report | None, lang: str, ward_names: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Every chart of the page by name: opened, quality, types, wards, hours, days."""
    return {
        "opened": opened_figure(report, lang),
        "quality": quality_figure(report, lang),
        "types": type_figure(report, lang),
        "wards": ward_figure(report, lang, ward_names),
        "hours": hour_figure(report, lang),
        "days": day_figure(report, lang),
    }
