"""Trainer's page callbacks: refresh what the page shows (an interval, or another exercise selected), create an
exercise, run a control on the selected one (start, pause, resume, stop, reset, speed, jump ahead), send its
trainees a message, and mark a point clicked on the map and inject an event there. Each is guarded (RUN_EXERCISES),
hands what the browser posted to the core's forms (the input boundary, `ioc.exercises.trainer.parse`) and makes
one call into ioc/ as the signed-in trainer; the core audits it."""

from __future__ import annotations

import logging
from typing import Any, Final

import dash
import redis
from dash import Input, Output, State, callback, no_update
from dash.exceptions import PreventUpdate

from callbacks import chosen_lang, resources
from callbacks.auth import acting_principal, guarded
from ioc.errors import DatabaseError, InvalidInput, IocError, NotFound
from ioc.exercises import trainer
from ioc.exercises.progress import ScenarioInfo, read_scenarios
from ioc.exercises.records import ExerciseRefused, list_exercises
from ioc.i18n import t
from ioc.identity.accounts import Account, list_accounts
from ioc.identity.roles import Permission, Role
from ioc.inputs import valid_id
from layouts.exercises import board, ids
from layouts.exercises.forms import COMMAND_BUTTONS
from layouts.exercises.inject_map import clicked_point, point_marker, point_text

log = logging.getLogger(__name__)

PERMISSION: Final = Permission.RUN_EXERCISES
BUTTONS: Final = {button: command for command, button in COMMAND_BUTTONS.items()}
MESSAGE: Final = Output(ids.MESSAGE, "children", allow_duplicate=True)


def operators(accounts: list[Account]) -> list[Account]:
    """The accounts that may train: enabled operators."""
    return [a for a in accounts if a.role is Role.OPERATOR and not a.disabled]


def read_page(selected: int | None) -> tuple[trainer.Board, list[ScenarioInfo], list[Account]]:
    """What the page shows, read now: the board, the scenarios and the trainees to choose from."""
    res = resources()
    base = res.keys.namespace
    return (
        trainer.read_board(res.database, res.redis, base, selected),
        read_scenarios(res.redis, res.keys),
        operators(list_accounts(res.database)),
    )


def said(ok: bool, text: str) -> Any:
    """A message: done, or refused."""
    return dash.html.Div(text, className=f"exercises-note {'is-ok' if ok else 'is-error'}", role="status")


def refusal(error: IocError, lang: str) -> Any:
    """Why an action was refused, in the page's language (a value's fault in the rule's own words)."""
    if isinstance(error, InvalidInput):
        return said(False, t("exercises.refused.input", lang, why=str(error)))
    if isinstance(error, ExerciseRefused):
        return said(False, t("exercises.refused.status", lang, why=str(error)))
    if isinstance(error, NotFound):
        return said(False, t("exercises.refused.not_found", lang))
    return said(False, t("exercises.refused.unavailable", lang))


def _refused(error: IocError, what: str, lang: str) -> Any:
    (log.error if isinstance(error, DatabaseError) else log.info)(
        "trainer %s: %s refused: %s", acting_principal().name, what, type(error).__name__
    )
    return refusal(error, lang)


@callback(
    output={
        "list": Output(ids.LIST, "children"),
        "options": Output(ids.SELECTED, "options"),
        "status": Output(ids.STATUS, "children"),
        "responses": Output(ids.RESPONSES, "children"),
        "actions": Output(ids.ACTIONS, "children"),
        "messages": Output(ids.MESSAGES, "children"),
        "report_href": Output(ids.REPORT_LINK, "href"),
        "report_hidden": Output(ids.REPORT_LINK, "hidden"),
    },
    inputs={
        "tick": Input(ids.POLL, "n_intervals"),
        "selected": Input(ids.SELECTED, "value"),
        "lang": State(ids.LANG, "data"),
    },
)
@guarded(PERMISSION)
def refresh(tick: int | None, selected: Any, lang: str | None) -> dict[str, Any]:
    """The exercises and the selected one as they are now."""
    chosen = chosen_lang(lang)
    res = resources()
    tz = res.city.timezone
    try:
        data = trainer.read_board(res.database, res.redis, res.keys.namespace, valid_id(selected))
    except (DatabaseError, redis.RedisError, OSError) as exc:
        log.warning("trainer's page cannot read the exercises: %s", exc)
        raise PreventUpdate from None
    return {
        "list": board.exercises_table(data.exercises, chosen),
        "options": board.options(data.exercises, chosen),
        "status": board.status_line(data.selected, data.clock, tz, chosen),
        "responses": board.responses_table(data.responses, tz, chosen),
        "actions": board.actions_table(data.actions, tz, chosen),
        "messages": board.messages_table(data.messages, tz, chosen),
        "report_href": board.report_href(data.selected, chosen),
        "report_hidden": data.selected is None,
    }


@callback(
    output={
        "message": MESSAGE,
        "options": Output(ids.SELECTED, "options", allow_duplicate=True),
        "selected": Output(ids.SELECTED, "value", allow_duplicate=True),
    },
    inputs={
        "clicks": Input(ids.CREATE, "n_clicks"),
        "name": State(ids.NAME, "value"),
        "scenario": State(ids.SCENARIO, "value"),
        "speed": State(ids.SPEED, "value"),
        "trainees": State(ids.TRAINEES, "value"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def create(clicks: int | None, name: Any, scenario: Any, speed: Any, trainees: Any, lang: str | None) -> dict[str, Any]:
    """Create an exercise from the form; it is selected, waiting for its start."""
    if not clicks:
        raise PreventUpdate
    chosen = chosen_lang(lang)
    res, who = resources(), acting_principal()
    try:
        form = trainer.parse(trainer.CreateForm, name=name, scenario=scenario, speed=speed, trainees=trainees)
        allowed = [a.id for a in operators(list_accounts(res.database))]
        exercise = trainer.create(res.database, form, allowed_trainees=allowed, actor=who.name)
    except IocError as error:
        return {"message": _refused(error, "create", chosen), "options": no_update, "selected": no_update}
    log.info("trainer %s created exercise %d", who.name, exercise.id)
    try:
        choices: Any = board.options(list_exercises(res.database), chosen)
    except DatabaseError:
        choices = [{"label": f"#{exercise.id} {exercise.name}", "value": exercise.id}]
    return {
        "message": said(True, t("exercises.done.create", chosen, id=exercise.id)),
        "options": choices,
        "selected": exercise.id,
    }


@callback(
    output={"message": MESSAGE},
    inputs={
        "clicks": [Input(button, "n_clicks") for button in (*COMMAND_BUTTONS.values(), ids.SET_SPEED, ids.JUMP)],
        "selected": State(ids.SELECTED, "value"),
        "speed": State(ids.NEW_SPEED, "value"),
        "minutes": State(ids.JUMP_MINUTES, "value"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def control(clicks: list[int | None], selected: Any, speed: Any, minutes: Any, lang: str | None) -> dict[str, Any]:
    """Run the clicked control on the selected exercise."""
    trigger = dash.ctx.triggered_id
    triggered = dash.ctx.triggered
    if not isinstance(trigger, str) or not triggered or not triggered[0].get("value"):
        raise PreventUpdate
    chosen = chosen_lang(lang)
    if selected is None:
        return {"message": said(False, t("exercises.refused.select", chosen))}
    res, who = resources(), acting_principal()
    db, client, base = res.database, res.redis, res.keys.namespace
    try:
        if trigger == ids.SET_SPEED:
            exercise = trainer.change_speed(
                db, trainer.parse(trainer.SpeedForm, exercise=selected, speed=speed), actor=who.name
            )
            text = t("exercises.done.speed", chosen, id=exercise.id, speed=f"{exercise.speed:g}")
        elif trigger == ids.JUMP:
            form = trainer.parse(trainer.JumpForm, exercise=selected, minutes=minutes)
            exercise = trainer.jump(db, client, form, actor=who.name, base=base)
            text = t("exercises.done.jump", chosen, id=exercise.id, minutes=form.minutes)
        elif trigger in BUTTONS:
            form_c = trainer.parse(trainer.ControlForm, exercise=selected, command=BUTTONS[trigger])
            exercise = trainer.command(db, client, form_c, actor=who.name, base=base)
            text = t("exercises.done.command", chosen, id=exercise.id, status=board.status_text(exercise, chosen))
        else:
            raise PreventUpdate
    except (redis.RedisError, OSError) as exc:
        log.error("trainer %s: %s failed: %s", who.name, trigger, exc)
        return {"message": said(False, t("exercises.refused.unavailable", chosen))}
    except IocError as error:
        return {"message": _refused(error, trigger, chosen)}
    log.info("trainer %s: %s on exercise %d", who.name, trigger, exercise.id)
    return {"message": said(True, text)}


@callback(
    output={"message": MESSAGE, "text": Output(ids.INJECT_TEXT, "value")},
    inputs={
        "clicks": Input(ids.INJECT, "n_clicks"),
        "selected": State(ids.SELECTED, "value"),
        "sender": State(ids.INJECT_FROM, "value"),
        "recipient": State(ids.INJECT_TO, "value"),
        "text": State(ids.INJECT_TEXT, "value"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def inject(
    clicks: int | None, selected: Any, sender: Any, recipient: Any, text: Any, lang: str | None
) -> dict[str, Any]:
    """Send the selected exercise's trainees the typed message."""
    if not clicks:
        raise PreventUpdate
    chosen = chosen_lang(lang)
    if selected is None:
        return {"message": said(False, t("exercises.refused.select", chosen)), "text": no_update}
    res, who = resources(), acting_principal()
    try:
        form = trainer.parse(
            trainer.InjectForm,
            exercise=selected,
            message={"sender": sender, "recipient": recipient, "text": text},
        )
        trainer.inject(res.database, res.redis, form, actor=who.name, base=res.keys.namespace)
    except (redis.RedisError, OSError) as exc:
        log.error("trainer %s: inject failed: %s", who.name, exc)
        return {"message": said(False, t("exercises.refused.unavailable", chosen)), "text": no_update}
    except IocError as error:
        return {"message": _refused(error, "inject", chosen), "text": no_update}
    log.info("trainer %s sent exercise %s a message", who.name, selected)
    return {"message": said(True, t("exercises.done.inject", chosen)), "text": ""}


@callback(
    output={"marker": Output(ids.MAP_POINT, "children"), "place": Output(ids.MAP_PLACE, "children")},
    inputs={"click": Input(ids.MAP, "clickData"), "lang": State(ids.LANG, "data")},
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def mark_point(click: Any, lang: str | None) -> dict[str, Any]:
    """Show the point clicked on the map (nothing is injected yet)."""
    point = clicked_point(click)
    if point is None:
        raise PreventUpdate
    try:
        lat, lon = trainer.parse(trainer.PointForm, lat=point[0], lon=point[1]).point
    except InvalidInput:
        raise PreventUpdate from None
    return {"marker": [point_marker(lat, lon)], "place": point_text(lat, lon, chosen_lang(lang))}


@callback(
    output={"message": MESSAGE},
    inputs={
        "clicks": Input(ids.MAP_INJECT, "n_clicks"),
        "selected": State(ids.SELECTED, "value"),
        "kind": State(ids.MAP_KIND, "value"),
        "click": State(ids.MAP, "clickData"),
        "lang": State(ids.LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def inject_on_map(clicks: int | None, selected: Any, kind: Any, click: Any, lang: str | None) -> dict[str, Any]:
    """Inject the event chosen at the point clicked into the selected exercise."""
    if not clicks:
        raise PreventUpdate
    chosen = chosen_lang(lang)
    if selected is None:
        return {"message": said(False, t("exercises.refused.select", chosen))}
    point = clicked_point(click)
    if point is None:
        return {"message": said(False, t("exercises.refused.no_point", chosen))}
    res, who = resources(), acting_principal()
    try:
        form = trainer.parse(trainer.MapInjectForm, exercise=selected, kind=kind, lat=point[0], lon=point[1])
        sent = trainer.inject_on_map(res.database, res.redis, res.city, form, actor=who.name, base=res.keys.namespace)
    except (redis.RedisError, OSError) as exc:
        log.error("trainer %s: map inject failed: %s", who.name, exc)
        return {"message": said(False, t("exercises.refused.unavailable", chosen))}
    except IocError as error:
        return {"message": _refused(error, "map inject", chosen)}
    log.info("trainer %s injected %s into exercise %s", who.name, sent.inject, selected)
    text = sent.text_vi if chosen == "vi" else sent.text_en
    return {"message": said(True, t("exercises.done.map_inject", chosen, what=text))}
