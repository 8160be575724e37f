"""The page Dash's router shows for an address where no page is, reached by in-app navigation (the module's name,
`not_found_404`, is how Dash Pages finds it): the shell's own not-found page in the person's language instead of
Dash's English "404 - Page not found". A request for such an address from the browser never gets here: the gate
answers it with HTTP 404 and the same words (layouts/login.not_found_html)."""

from __future__ import annotations

from dash.development.base_component import Component

from callbacks import resources
from callbacks.auth import register_page
from ioc.i18n import normalize_lang
from ioc.identity.roles import Permission
from layouts.login import not_found_component

PATH = "/not-found"


def page(lang: str | None = None, **_query: object) -> Component:
    """The not-found page, in the language of the query string or the configured default."""
    return not_found_component(normalize_lang(lang, resources().settings.language))


register_page(__name__, path=PATH, name="Not found", permission=Permission.VIEW_WALL, nav_label=None, build=page)
