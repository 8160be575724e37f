"""The wall page at `/`, for every role (VIEW_WALL): registers itself, guarded with that permission
(callbacks.auth.register_page). `?lang=vi|en` picks the language; the default, the refresh interval, push and the map
tiles are settings of the app serving the request."""

from __future__ import annotations

from dash.development.base_component import Component

import callbacks.wall.incidents
import callbacks.wall.replay
import callbacks.wall.tick  # noqa: F401  (the page's callbacks)
from callbacks import resources
from callbacks.auth import principal, register_page
from callbacks.wall.geometry import geometry_urls
from callbacks.wall.push import PUSH_PATH
from ioc.errors import DatabaseError
from ioc.exercises.records import list_exercises
from ioc.i18n import normalize_lang
from ioc.identity.roles import Permission
from layouts.wall.page import PATH, layout

PERMISSION = Permission.VIEW_WALL
MAX_SOURCES = 50  # exercises a trainer may choose to replay (the newest)


def page(lang: str | None = None, **_query: object) -> Component:
    """The wall, in the language asked for in the query string or the configured default."""
    res = resources()
    chosen = normalize_lang(lang, res.settings.language)
    push_url = PUSH_PATH if res.settings.push_streams > 0 else None
    return layout(
        res.city,
        lang=chosen,
        refresh_ms=res.settings.wall_refresh_ms,
        tile_url=res.settings.tile_url,
        push_url=push_url,
        geometry=geometry_urls(),
        replay=may_replay(),
        exercises=replayable_exercises(),
    )


def replayable_exercises() -> list[tuple[int, str]] | None:
    """For a trainer (RUN_EXERCISES), the exercises whose history the wall may replay (id, name), newest first."""
    who = principal(Permission.RUN_EXERCISES)
    if who is None or not who.may(Permission.RUN_EXERCISES):
        return None
    try:
        found = list_exercises(resources().database)
    except DatabaseError:
        return []
    return [(exercise.id, exercise.name) for exercise in found if exercise.status != "created"][:MAX_SOURCES]


def may_replay() -> bool:
    """Whether the viewer may replay the wall's history (checked again by each replay callback on the server)."""
    who = principal(Permission.REPLAY_HISTORY)
    return who is not None and who.kind == "account" and who.may(Permission.REPLAY_HISTORY)


register_page(__name__, path=PATH, name="Wall", permission=PERMISSION, nav_label="shell.page.wall", build=page)
