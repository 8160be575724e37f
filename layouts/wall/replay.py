"""The wall's replay control (operators, managers and trainers; never a display token): a button that opens a bar
with a time slider over the history kept, play or pause, the speed and "back to live"; and the marker that says, in
both words and colour, that the wall shows a past moment and which."""

from __future__ import annotations

from typing import Any, Final

from dash import dcc, html
from dash.development.base_component import Component

from ioc.clock import span
from ioc.i18n import t
from ioc.replay.registry import SPEEDS
from layouts.common import local_time
from layouts.wall import ids

MARK_EVERY_S: Final = 3 * 3600  # the slider's labelled marks


def replay_store() -> Component:
    """What the browser keeps of its replay (None: the wall is live); on every wall, the tick's input."""
    return dcc.Store(id=ids.REPLAY, data=None)


LIVE_SOURCE: Final = "live"  # the source choice of the namespace the viewer works in


def replay_bar(lang: str, exercises: list[tuple[int, str]] | None = None) -> Component:
    """The closed control (the panel opens with a replay), and the marker shown while replaying; with `exercises`
    (id, name: a trainer's), a choice of what to replay, live or one of them."""
    sources = [{"label": t("replay.source_live", lang), "value": LIVE_SOURCE}]
    sources += [
        {"label": f"{name} (#{exercise_id})", "value": f"ex:{exercise_id}"} for exercise_id, name in exercises or []
    ]
    return html.Div(
        id=ids.REPLAY_BAR,
        className="wall-replay",
        children=[
            dcc.Interval(id=ids.REPLAY_INTERVAL, interval=1000, disabled=True),
            html.Div(id=ids.REPLAY_MARKER, className="wall-replay-marker is-hidden", role="status"),
            html.Div(
                className="wall-replay-start",
                children=[
                    dcc.Dropdown(
                        id=ids.REPLAY_SOURCE,
                        options=sources,
                        value=LIVE_SOURCE,
                        clearable=False,
                        searchable=False,
                        className="wall-replay-source" + ("" if exercises else " is-hidden"),
                    ),
                    html.Button(t("replay.open", lang), id=ids.REPLAY_OPEN, className="wall-replay-open", n_clicks=0),
                ],
            ),
            html.Div(
                id=ids.REPLAY_PANEL,
                className="wall-replay-panel is-hidden",
                children=[
                    html.Div(
                        dcc.Slider(id=ids.REPLAY_SLIDER, min=0, max=1, step=1, value=0, updatemode="mouseup"),
                        className="wall-replay-slider",
                    ),
                    html.Button(t("replay.play", lang), id=ids.REPLAY_PLAY, className="wall-replay-button", n_clicks=0),
                    dcc.Dropdown(
                        id=ids.REPLAY_SPEED,
                        options=[{"label": f"×{speed}", "value": speed} for speed in SPEEDS],
                        value=SPEEDS[0],
                        clearable=False,
                        searchable=False,
                        className="wall-replay-speed",
                    ),
                    html.Button(t("replay.live", lang), id=ids.REPLAY_LIVE, className="wall-replay-button", n_clicks=0),
                    html.Span(id=ids.REPLAY_REACH, className="wall-replay-reach"),
                    html.Span(id=ids.REPLAY_STATUS, className="wall-replay-status"),
                ],
            ),
        ],
    )


def slider_marks(earliest_s: float, latest_s: float, tz: str) -> dict[int, str]:
    """Labelled marks every few hours over the history kept, in the city's time."""
    first = int(earliest_s // MARK_EVERY_S + 1) * MARK_EVERY_S
    return {mark: local_time(mark, tz) for mark in range(first, int(latest_s), MARK_EVERY_S)}


def reach_text(earliest_s: float | None, now_s: float, tz: str, lang: str) -> str:
    """How far back the history reaches, in words."""
    if earliest_s is None:
        return t("replay.no_history", lang)
    return t("replay.reach", lang, time=local_time(earliest_s, tz, "%d/%m %H:%M"), span=span(now_s - earliest_s))


def marker(at_s: float | None, building: bool, tz: str, lang: str) -> tuple[list[Any], str]:
    """The replay marker's content and class: the moment shown (or that it is being rebuilt)."""
    shown = local_time(at_s, tz, "%d/%m %H:%M:%S") if at_s is not None else "…"
    children: list[Any] = [
        html.Strong(t("replay.marker", lang, time=shown), className="wall-replay-marker-time"),
        html.Span(t("replay.marker_hint", lang, time=shown), className="wall-replay-marker-hint"),
    ]
    if building:
        children.append(html.Span(t("replay.building", lang), className="wall-replay-marker-building"))
    return children, "wall-replay-marker"
