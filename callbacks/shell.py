"""The shell's own callbacks: the navigation a signed-in person sees (the pages their role may open, who they are,
sign out), and the "DIỄN TẬP / EXERCISE" banner of a person training in a running or paused exercise, on every
page. A wall screen signed in with a display token sees neither: the kiosk look, and never an exercise."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import dash
from dash import Input, Output, State, callback

from callbacks import resources
from callbacks.auth import SIGNED_IN, csrf_token, guarded, principal, workspace
from ioc.errors import DatabaseError
from ioc.exercises.trainer import banner_view
from ioc.i18n import normalize_lang, t
from ioc.identity.roles import Permission
from layouts import shell
from layouts.common import local_datetime

log = logging.getLogger(__name__)


@callback(
    Output(shell.NAV, "children"),
    Output(shell.NAV, "hidden"),
    Input(shell.LOCATION, "pathname"),
    State(shell.LOCATION, "search"),
)
@guarded(SIGNED_IN)
def navigation(pathname: str | None, search: str | None) -> tuple[Any, bool]:
    """The navigation for whoever holds this session: hidden for a display token."""
    who = principal()
    if who is None or who.kind == "display":
        return [], True
    lang = normalize_lang(shell.query_lang(search), resources().settings.language)
    pages = [
        shell.NavPage(page["path"], page["nav_label"])
        for page in dash.page_registry.values()
        if page.get("nav_label") is not None and who.may(page.get("permission", Permission.VIEW_WALL))
    ]
    return shell.nav(pages, pathname or "/", who.name, who.role.value, csrf_token(), lang), False


@callback(
    Output(shell.BANNER, "children"),
    Output(shell.BANNER, "hidden"),
    Output(shell.BANNER_POLL, "disabled"),
    Input(shell.LOCATION, "pathname"),
    Input(shell.BANNER_POLL, "n_intervals"),
    State(shell.LOCATION, "search"),
)
@guarded(SIGNED_IN)
def exercise_banner(pathname: str | None, tick: int | None, search: str | None) -> tuple[Any, bool, bool]:
    """The exercise banner of a trainee (hidden for anyone else); a wall screen never polls for one. Whether this
    person trains now is the request's workspace (decided once per request, without SQL while no exercise is
    active); only a trainee's messages are read from the database."""
    who = principal()
    if who is None or who.kind != "account":
        return [], True, True
    res = resources()
    lang = normalize_lang(shell.query_lang(search), res.settings.language)
    try:
        view = banner_view(res.database, workspace())
    except DatabaseError as exc:
        log.warning("exercise banner unavailable: %s", exc)
        raise dash.exceptions.PreventUpdate from None  # what it showed stays
    if view is None:
        return [], True, False
    tz = res.city.timezone
    clock = "—" if view.clock is None else local_datetime(datetime.fromtimestamp(view.clock, UTC), tz, lang)
    exercise = view.exercise
    messages = [
        (
            local_datetime(m.sent_at, tz, lang),
            m.sender,
            m.recipient,
            m.text_vi if lang == "vi" else m.text_en,
        )
        for m in reversed(view.messages)
    ]
    status = t(f"exercises.status.{exercise.status}", lang)
    return shell.banner(exercise.name, status, exercise.speed, clock, messages, lang), False, False
