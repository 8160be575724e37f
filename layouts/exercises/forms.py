"""The trainer's forms: create an exercise (name, scenario, speed, trainees), control the selected one (start, pause,
resume, stop, reset, speed, jump ahead) and send its trainees a message. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from dash import dcc, html
from dash.development.base_component import Component

from ioc.exercises.progress import ScenarioInfo
from ioc.exercises.trainer import PAGE_MAX_JUMP_MIN, PAGE_MAX_SPEED
from ioc.i18n import t
from ioc.identity.accounts import Account
from layouts.exercises import ids

COMMAND_BUTTONS: Final = {
    "start": ids.START,
    "pause": ids.PAUSE,
    "resume": ids.RESUME,
    "stop": ids.STOP,
    "reset": ids.RESET,
}


def field(label: str, control: Component) -> Component:
    """A labelled control."""
    return html.Label(className="exercises-field", children=[html.Span(label), control])


def create_form(scenarios: Sequence[ScenarioInfo], trainees: Sequence[Account], lang: str) -> Component:
    """The form that makes a new exercise (it waits for its start)."""
    scenario_choice: Component = (
        dcc.RadioItems(
            id=ids.SCENARIO,
            options=[{"label": f"{s.title} ({s.name})", "value": s.name} for s in scenarios],
            value=scenarios[0].name,
            className="exercises-choices",
        )
        if scenarios
        else html.Div([html.P(t("exercises.no_scenarios", lang)), dcc.RadioItems(id=ids.SCENARIO, options=[])])
    )
    trainee_choice: Component = dcc.Checklist(
        id=ids.TRAINEES,
        options=[{"label": a.username, "value": a.id} for a in trainees],
        value=[],
        className="exercises-choices",
    )
    return html.Div(
        className="exercises-form",
        children=[
            field(t("exercises.name", lang), dcc.Input(id=ids.NAME, type="text", maxLength=100, value="")),
            field(t("exercises.scenario", lang), scenario_choice),
            field(
                t("exercises.speed", lang),
                dcc.Input(id=ids.SPEED, type="number", min=1, max=PAGE_MAX_SPEED, step=1, value=60),
            ),
            field(
                t("exercises.trainees", lang),
                trainee_choice if trainees else html.Div([t("exercises.no_trainees", lang), trainee_choice]),
            ),
            html.Button(t("exercises.do.create", lang), id=ids.CREATE, className="exercises-button"),
        ],
    )


def controls(lang: str) -> Component:
    """The selected exercise's controls."""
    buttons = [
        html.Button(t(f"exercises.do.{command}", lang), id=button, className=f"exercises-button is-{command}")
        for command, button in COMMAND_BUTTONS.items()
    ]
    return html.Div(
        className="exercises-controls",
        children=[
            html.Div(buttons, className="exercises-buttons"),
            html.Div(
                className="exercises-inline",
                children=[
                    dcc.Input(id=ids.NEW_SPEED, type="number", min=1, max=PAGE_MAX_SPEED, step=1, value=60),
                    html.Button(t("exercises.do.speed", lang), id=ids.SET_SPEED, className="exercises-button"),
                    dcc.Input(id=ids.JUMP_MINUTES, type="number", min=1, max=PAGE_MAX_JUMP_MIN, step=1, value=10),
                    html.Button(t("exercises.do.jump", lang), id=ids.JUMP, className="exercises-button"),
                ],
            ),
        ],
    )


def inject_form(lang: str) -> Component:
    """A message to the selected exercise's trainees: from, to, text."""
    return html.Div(
        className="exercises-form",
        children=[
            field(
                t("exercises.inject.from", lang), dcc.Input(id=ids.INJECT_FROM, type="text", maxLength=200, value="")
            ),
            field(t("exercises.inject.to", lang), dcc.Input(id=ids.INJECT_TO, type="text", maxLength=200, value="")),
            field(t("exercises.inject.text", lang), dcc.Textarea(id=ids.INJECT_TEXT, maxLength=1000, value="")),
            html.Button(t("exercises.do.inject", lang), id=ids.INJECT, className="exercises-button"),
        ],
    )
