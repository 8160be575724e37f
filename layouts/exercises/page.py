"""The whole trainer's page: a header (title, language), the place where actions answer, the form that creates an
exercise, the list of exercises and the selected one (its controls, a message to its trainees, its expected
responses, its trainees' actions and its messages), refreshed by an interval. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from dash import dcc, html
from dash.development.base_component import Component

from ioc.city import City
from ioc.exercises.progress import ScenarioInfo
from ioc.exercises.trainer import Board
from ioc.i18n import t
from ioc.identity.accounts import Account
from layouts.common import language_switch
from layouts.exercises import board, ids
from layouts.exercises.forms import controls, create_form, inject_form
from layouts.exercises.inject_map import inject_map

PATH: Final = "/exercises"
POLL_MS: Final = 2_000


def panel(title: str, *children: Component, wide: bool = False) -> Component:
    """One titled section of the page."""
    return html.Section(
        className=f"exercises-panel{' exercises-panel--wide' if wide else ''}",
        children=[html.H2(title, className="exercises-panel-title"), *children],
    )


def layout(
    data: Board,
    *,
    scenarios: Sequence[ScenarioInfo],
    trainees: Sequence[Account],
    lang: str,
    tz: str,
    message: Component | None = None,
    city: City | None = None,
) -> Component:
    """The trainer's page in one language; `tz` the city's time zone for every time shown; with the `city`, its map
    to inject events on."""
    return html.Div(
        id=ids.ROOT,
        className="exercises desk",
        lang=lang,
        children=[
            dcc.Store(id=ids.LANG, data=lang),
            dcc.Interval(id=ids.POLL, interval=POLL_MS),
            html.Header(
                className="exercises-header",
                children=[
                    html.H1(t("exercises.title", lang), className="exercises-title"),
                    language_switch(PATH, lang, "exercises"),
                ],
            ),
            html.Div(message, id=ids.MESSAGE, className="exercises-feedback"),
            panel(t("exercises.create", lang), create_form(scenarios, trainees, lang)),
            panel(
                t("exercises.list", lang),
                html.Div(board.exercises_table(data.exercises, lang), id=ids.LIST),
            ),
            panel(
                t("exercises.controls", lang),
                dcc.Dropdown(
                    id=ids.SELECTED,
                    options=board.options(data.exercises, lang),
                    value=data.selected.id if data.selected else None,
                    placeholder=t("exercises.select", lang),
                    clearable=False,
                ),
                html.Div(board.status_line(data.selected, data.clock, tz, lang), id=ids.STATUS),
                board.report_link(data.selected, lang),
                controls(lang),
                html.H3(t("exercises.inject", lang)),
                inject_form(lang),
                wide=True,
            ),
            *([] if city is None else [panel(t("exercises.map", lang), inject_map(city, lang), wide=True)]),
            panel(
                t("exercises.responses", lang),
                html.Div(board.responses_table(data.responses, tz, lang), id=ids.RESPONSES),
                wide=True,
            ),
            panel(t("exercises.actions", lang), html.Div(board.actions_table(data.actions, tz, lang), id=ids.ACTIONS)),
            panel(
                t("exercises.messages", lang), html.Div(board.messages_table(data.messages, tz, lang), id=ids.MESSAGES)
            ),
        ],
    )
