"""The wall's header: the centre's title, the city clock (with a badge on simulated time) and the language switch."""

from __future__ import annotations

from dash import html
from dash.development.base_component import Component

from ioc.city import City
from ioc.i18n import LANGS, t
from ioc.snapshot import WallSnapshot
from layouts.common import local_time
from layouts.wall import ids


def clock_children(snapshot: WallSnapshot, city: City, lang: str) -> list[Component | str]:
    """The city clock, and a badge while the namespace runs on a simulator's clock (so no one takes a training
    run or a demo for the real city)."""
    time_text = local_time(snapshot.clock, city.timezone, "%H:%M:%S")
    if snapshot.simulated_speed is None:
        return [time_text]
    badge = html.Span(
        t("wall.simulated", lang, speed=f"{snapshot.simulated_speed:g}"),
        className="wall-sim-badge",
        title=t("wall.simulated_hint", lang),
    )
    return [time_text, badge]


def header(city: City, lang: str) -> Component:
    """The header row; the clock shows a placeholder until the first tick."""
    title = t("wall.title", lang, city=city.name if lang == "vi" else city.name_en)
    switch = html.Nav(
        className="wall-lang",
        title=t("wall.language", lang),
        children=[
            html.A(
                code.upper(), href=f"?lang={code}", className=f"wall-lang-link{' is-active' if code == lang else ''}"
            )
            for code in LANGS
        ],
    )
    return html.Header(
        className="wall-header",
        children=[
            html.H1(title, className="wall-title"),
            html.Div(
                className="wall-clock-box",
                children=[
                    html.Span(t("wall.city_time", lang), className="wall-clock-label"),
                    html.Span(t("wall.no_time", lang), id=ids.CLOCK, className="wall-clock"),
                ],
            ),
            switch,
        ],
    )
