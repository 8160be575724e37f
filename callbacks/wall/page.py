"""The wall page at `/`: registers itself with Dash Pages. `?lang=vi|en` picks the language; the default, the
refresh interval and the map tiles are settings of the app serving the request."""

from __future__ import annotations

import dash
from dash.development.base_component import Component

import callbacks.wall.tick  # noqa: F401  (the page's callbacks)
from callbacks import resources
from ioc.i18n import normalize_lang
from layouts.wall.page import PATH, layout


def page(lang: str | None = None, **_query: object) -> Component:
    """The wall, in the language asked for in the query string or the configured default."""
    res = resources()
    chosen = normalize_lang(lang, res.settings.language)
    return layout(res.city, lang=chosen, refresh_ms=res.settings.wall_refresh_ms, tile_url=res.settings.tile_url)


dash.register_page(__name__, path=PATH, name="Wall", title="IOC", layout=page)  # type: ignore[no-untyped-call]
