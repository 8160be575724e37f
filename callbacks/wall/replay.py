"""The wall's replay control: open a replay of the viewer's namespace (live, or a trainee's exercise), move it to a
moment, play or pause it at a speed, and go back to live; and, every second while replaying, the marker with the
moment shown. Web workers only describe what is wanted (ioc/replay/registry.py); the replay runner builds it.

Guarded by REPLAY_HISTORY (operators, managers, trainers; never a display token). A replay belongs to the account
that opened it and to the namespace it replays: the tick (`shown_replay`) and these callbacks honour a replay the
browser names only when both still hold, so a browser cannot make a wall show someone else's replay, or make a
display token's wall leave live. Every moment and speed from the browser is checked at the boundary (ioc/inputs.py).
"""

from __future__ import annotations

import time
from typing import Any, Final

from dash import Input, Output, State, callback, ctx, no_update

from callbacks import resources
from callbacks.auth import Principal, guarded, principal, workspace
from ioc.errors import DatabaseError, InvalidInput, NotFound
from ioc.exercises.records import get_exercise
from ioc.i18n import normalize_lang, t
from ioc.identity.roles import Permission
from ioc.inputs import clean_choice, clean_id, clean_moment
from ioc.keys import Keys
from ioc.namespaces import exercise_namespace, exercise_of
from ioc.replay import ReplayState, close_replay, history_reach, open_replay, read_replay
from ioc.replay.registry import SPEEDS, ask, replay_pattern, touch
from layouts.wall import ids
from layouts.wall.replay import marker, reach_text, slider_marks

OPEN_BEFORE_NOW_S: Final = 300.0  # a replay opens this long before now: the recent past an operator asks about

CONTROL_OUTPUTS: Final = {
    "store": Output(ids.REPLAY, "data"),
    "panel": Output(ids.REPLAY_PANEL, "className"),
    "slider_min": Output(ids.REPLAY_SLIDER, "min"),
    "slider_max": Output(ids.REPLAY_SLIDER, "max"),
    "slider_value": Output(ids.REPLAY_SLIDER, "value"),
    "slider_marks": Output(ids.REPLAY_SLIDER, "marks"),
    "reach": Output(ids.REPLAY_REACH, "children"),
    "status": Output(ids.REPLAY_STATUS, "children"),
    "interval": Output(ids.REPLAY_INTERVAL, "disabled"),
}
CONTROL_INPUTS: Final = {
    "opened": Input(ids.REPLAY_OPEN, "n_clicks"),
    "moment": Input(ids.REPLAY_SLIDER, "value"),
    "played": Input(ids.REPLAY_PLAY, "n_clicks"),
    "speed": Input(ids.REPLAY_SPEED, "value"),
    "left": Input(ids.REPLAY_LIVE, "n_clicks"),
    "store": State(ids.REPLAY, "data"),
    "lang": State(ids.LANG, "data"),
    "chosen": State(ids.REPLAY_SOURCE, "value"),
}
STATUS_OUTPUTS: Final = {
    "marker": Output(ids.REPLAY_MARKER, "children"),
    "marker_class": Output(ids.REPLAY_MARKER, "className"),
    "play": Output(ids.REPLAY_PLAY, "children"),
}
STATUS_INPUTS: Final = {
    "n_intervals": Input(ids.REPLAY_INTERVAL, "n_intervals"),
    "store": Input(ids.REPLAY, "data"),  # also at once when the replay opens or ends (its interval then stops)
    "lang": State(ids.LANG, "data"),
}


def may_replay_source(who: Principal, base: str, source: str) -> bool:
    """Whether the principal may see a replay of `source`: the namespace it works in, or, for a trainer
    (RUN_EXERCISES), live or any exercise of the base."""
    if source == workspace().namespace:
        return True
    return who.may(Permission.RUN_EXERCISES) and (source == base or exercise_of(base, source) is not None)


def chosen_source(who: Principal, chosen: object) -> str:
    """The namespace to replay: a trainer's choice of an exercise (checked: a whole id of an exercise that exists),
    else the namespace the viewer works in."""
    if not isinstance(chosen, str) or not chosen.startswith("ex:") or not who.may(Permission.RUN_EXERCISES):
        return workspace().namespace
    try:
        exercise = get_exercise(resources().database, clean_id(int(chosen[3:]), field="exercise"))
    except (ValueError, InvalidInput, NotFound, DatabaseError):
        raise InvalidInput("exercise: not one that can be replayed") from None
    return exercise_namespace(resources().keys.namespace, exercise.id)


def owned_replay(store: object) -> ReplayState | None:
    """The replay the browser names, if the viewer may replay, opened it, and it replays a namespace the viewer may
    see (the one it works in; a trainer, also live and the exercises)."""
    if not isinstance(store, dict):
        return None
    namespace = store.get("ns")
    res = resources()
    if not isinstance(namespace, str) or not replay_pattern(res.keys.namespace).match(namespace):
        return None
    who = principal(Permission.VIEW_WALL)
    if who is None or who.kind != "account" or not who.may(Permission.REPLAY_HISTORY):
        return None
    state = read_replay(res.redis, namespace)
    if state is None or state.owner != f"a:{who.ref}" or not may_replay_source(who, res.keys.namespace, state.source):
        return None
    return state


def shown_replay(store: object) -> Keys | None:
    """For the tick: the key names of the replay this browser shows, None when it shows live."""
    state = owned_replay(store)
    return None if state is None else state.keys


def _outputs(**given: Any) -> dict[str, Any]:
    return {name: given.get(name, no_update) for name in CONTROL_OUTPUTS}


@callback(output=CONTROL_OUTPUTS, inputs=CONTROL_INPUTS, prevent_initial_call=True)
@guarded(Permission.REPLAY_HISTORY)
def control(
    opened: int | None,
    moment: object,
    played: int | None,
    speed: object,
    left: int | None,
    store: object,
    lang: object,
    chosen: object = None,
) -> dict[str, Any]:
    """One action on the replay: open, move to a moment, play or pause, change speed, back to live."""
    language = normalize_lang(lang)
    res = resources()
    base = res.keys.namespace
    trigger = ctx.triggered_id
    state = owned_replay(store)
    if trigger == ids.REPLAY_LIVE or (trigger != ids.REPLAY_OPEN and state is None):
        if state is not None:
            close_replay(res.redis, base, state.namespace)
        return _outputs(store=None, panel="wall-replay-panel is-hidden", interval=True, status="")
    now = time.time()
    who = principal(Permission.REPLAY_HISTORY)
    assert who is not None
    try:
        source = Keys(chosen_source(who, chosen) if trigger == ids.REPLAY_OPEN else state.source)  # type: ignore[union-attr]
    except InvalidInput:
        return _outputs(status=t("replay.bad_input", language))
    reach = history_reach(res.redis, source).earliest_ms
    earliest = reach / 1000 if reach is not None else None
    reach_words = reach_text(earliest, now, res.city.timezone, language)
    if trigger == ids.REPLAY_OPEN:
        if earliest is None:
            return _outputs(status=t("replay.no_history", language), reach=reach_words)
        if state is not None:
            close_replay(res.redis, base, state.namespace)
        at = max(earliest, now - OPEN_BEFORE_NOW_S)
        namespace = open_replay(
            res.redis,
            base,
            owner=f"a:{who.ref}",
            source=source.namespace,
            at_ms=int(at * 1000),
            max_replays=res.settings.replay_max,
            idle_s=res.settings.replay_idle_s,
        )
        if namespace is None:
            return _outputs(status=t("replay.full", language), reach=reach_words)
        return _outputs(
            store={"ns": namespace},
            panel="wall-replay-panel",
            slider_min=int(earliest),
            slider_max=int(now),
            slider_value=int(at),
            slider_marks=slider_marks(earliest, now, res.city.timezone),
            reach=reach_words,
            status="",
            interval=False,
        )
    assert state is not None
    try:
        if trigger == ids.REPLAY_SLIDER:
            at_ms = clean_moment(moment, field="moment", earliest=earliest or now, latest=now)
            ask(res.redis, state.namespace, at_ms=at_ms, playing=False)
        elif trigger == ids.REPLAY_PLAY:
            ask(res.redis, state.namespace, playing=not state.playing)
        elif trigger == ids.REPLAY_SPEED:
            ask(res.redis, state.namespace, speed=clean_choice(speed, field="speed", choices=SPEEDS))
    except InvalidInput:
        return _outputs(status=t("replay.bad_input", language))
    return _outputs(slider_max=int(now), reach=reach_words, status="")


@callback(output=STATUS_OUTPUTS, inputs=STATUS_INPUTS)
@guarded(Permission.REPLAY_HISTORY)
def status(n_intervals: int | None, store: object, lang: object) -> dict[str, Any]:
    """While replaying, every second: the marker with the moment shown, and play or pause."""
    language = normalize_lang(lang)
    state = owned_replay(store)
    if state is None:
        return {"marker": [], "marker_class": "wall-replay-marker is-hidden", "play": t("replay.play", language)}
    res = resources()
    touch(res.redis, res.keys.namespace, state.namespace, res.settings.replay_idle_s)
    at = state.built_ms / 1000 if state.built_ms is not None else None
    children, class_name = marker(at, state.status == "building", res.city.timezone, language)
    if state.status == "refused":
        children.append(t("replay.refused", language))
    return {
        "marker": children,
        "marker_class": class_name,
        "play": t("replay.pause" if state.playing else "replay.play", language),
    }
