"""The wall page at `/`: registers itself with Dash Pages. `?lang=vi|en` picks the language; the default, the
refresh interval and the map tiles are settings of the app serving the request."""

from __future__ import annotations

import dash
from dash.development.base_component import Component

import callbacks.wall.incidents
import callbacks.wall.tick  # noqa: F401  (the page's callbacks)
from callbacks import resources
from callbacks.auth import guarded_layout
from ioc.i18n import normalize_lang
from ioc.identity.roles import Permission
from layouts.wall.page import PATH, layout

PERMISSION = Permission.VIEW_WALL


def page(lang: str | None = None, **_query: object) -> Component:
    """The wall, in the language asked for in the query string or the configured default."""
    res = resources()
    chosen = normalize_lang(lang, res.settings.language)
    return layout(res.city, lang=chosen, refresh_ms=res.settings.wall_refresh_ms, tile_url=res.settings.tile_url)


dash.register_page(  # type: ignore[no-untyped-call]
    __name__,
    path=PATH,
    name="Wall",
    title="IOC",
    layout=guarded_layout(PERMISSION, page),
    permission=PERMISSION,
    nav_label="shell.page.wall",
)
