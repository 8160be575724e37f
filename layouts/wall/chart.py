"""The wall's rolling speed chart: city average and the most congested segments over the last hour, built from
plain lists so new minutes can be appended with `extendData` (a packed array cannot be appended to)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ioc.city import City
from ioc.i18n import t
from ioc.rules import ARTERIAL_BANDS
from ioc.snapshot import SpeedSeries
from layouts.common import segment_name, zone

CHART_WINDOW_MINUTES: Final = 60
CHART_TOP_N: Final = 5
CHART_RECHOOSE_S: Final = 600.0  # the most congested segments are chosen again at most this often
SEGMENT_COLOURS: Final = ("#E69F00", "#56B4E9", "#F0E442", "#CC79A7", "#009E73", "#D55E00")  # Okabe–Ito
BAND_FILL: Final = {"congested": "rgba(255,77,109,0.16)", "slow": "rgba(255,210,63,0.10)"}


@dataclass(frozen=True)
class ChartQuery:
    """What the speed reader should be asked this tick: everything afresh, or the minutes after the last one shown."""

    rebuild: bool
    since_minute: int | None
    segment_ids: tuple[str, ...] | None


def chart_x(minute: int, tz: str) -> int:
    """A minute as the chart's x: milliseconds on the city's wall clock (plotly draws epoch ms as UTC, so the
    offset is added), numbers rather than date strings to keep the first tick small."""
    offset = zone(tz).utcoffset(datetime.fromtimestamp(minute * 60, zone(tz)))
    return (minute * 60 + int(offset.total_seconds() if offset else 0)) * 1000


def _speeds(values: Iterable[float | None]) -> list[float | None]:
    return [None if v is None else round(v, 1) for v in values]


def speed_figure(series: SpeedSeries | None, city: City, lang: str) -> dict[str, Any]:
    """The rolling speed chart as a plain-list figure (appendable): city average and the chosen segments."""
    minutes = series.minutes if series is not None else []
    x = [chart_x(m, city.timezone) for m in minutes]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": t("chart.city_avg", lang),
            "x": x,
            "y": _speeds(series.city_avg) if series is not None else [],
            "line": {"color": "#ffffff", "width": 5},
            "connectgaps": False,
        }
    ]
    segments = series.segments if series is not None else {}
    for i, (segment_id, values) in enumerate(segments.items()):
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": segment_name(city, segment_id),
                "x": list(x),
                "y": _speeds(values),
                "line": {"color": SEGMENT_COLOURS[i % len(SEGMENT_COLOURS)], "width": 3},
            }
        )
    congested, slow = ARTERIAL_BANDS
    axis = {"gridcolor": "#2c3440", "zerolinecolor": "#2c3440", "linecolor": "#5b6675", "tickfont": {"size": 16}}
    layout: dict[str, Any] = {
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": "#e8edf3", "size": 16, "family": "Inter, Roboto, 'Noto Sans', 'Liberation Sans', sans-serif"},
        "margin": {"l": 48, "r": 12, "t": 4, "b": 28},
        "showlegend": True,
        "legend": {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 1.0,
            "yanchor": "bottom",
            "font": {"size": 15},
            "itemwidth": 30,
            "tracegroupgap": 0,
        },
        "xaxis": {**axis, "type": "date", "tickformat": "%H:%M"},
        "yaxis": {**axis, "rangemode": "tozero", "title": {"text": "km/h", "font": {"size": 15}}},
        "shapes": [
            {
                "type": "rect",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": 0,
                "y1": congested,
                "fillcolor": BAND_FILL["congested"],
                "line": {"width": 0},
                "layer": "below",
            },
            {
                "type": "rect",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": congested,
                "y1": slow,
                "fillcolor": BAND_FILL["slow"],
                "line": {"width": 0},
                "layer": "below",
            },
        ],
        "uirevision": "wall",
    }
    if not minutes:
        layout["xaxis"]["showticklabels"] = False
        layout["annotations"] = [
            {
                "text": t("chart.no_data", lang),
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 22, "color": "#aeb8c4"},
            }
        ]
    return {"data": data, "layout": layout}


def speed_extension(series: SpeedSeries, segment_ids: Sequence[str], city: City) -> list[Any] | None:
    """extendData for new minutes: [{"x": [...], "y": [...]}, trace indices, window]; None when nothing is new."""
    if not series.minutes:
        return None
    x = [chart_x(m, city.timezone) for m in series.minutes]
    blank: list[float | None] = [None] * len(x)
    ys = [_speeds(series.city_avg), *(_speeds(series.segments.get(s, blank)) for s in segment_ids)]
    return [{"x": [list(x) for _ in ys], "y": ys}, list(range(len(ys))), CHART_WINDOW_MINUTES]
