"""The wall page at `/`, for every role (VIEW_WALL): registers itself, guarded with that permission
(callbacks.auth.register_page). `?lang=vi|en` picks the language; the default, the refresh interval, push and the map
tiles are settings of the app serving the request."""

from __future__ import annotations

from dash.development.base_component import Component

import callbacks.wall.incidents
import callbacks.wall.tick  # noqa: F401  (the page's callbacks)
from callbacks import resources
from callbacks.auth import register_page
from callbacks.wall.geometry import geometry_urls
from callbacks.wall.push import PUSH_PATH
from ioc.i18n import normalize_lang
from ioc.identity.roles import Permission
from layouts.wall.page import PATH, layout

PERMISSION = Permission.VIEW_WALL


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
    )


register_page(__name__, path=PATH, name="Wall", permission=PERMISSION, nav_label="shell.page.wall", build=page)
