"""The shell's own callback: the navigation a signed-in person sees (the pages their role may open, who they are,
sign out). A wall screen signed in with a display token sees none: the kiosk look."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, callback

from callbacks import resources
from callbacks.auth import SIGNED_IN, csrf_token, guarded, principal
from ioc.i18n import normalize_lang
from ioc.identity.roles import Permission
from layouts import shell


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
