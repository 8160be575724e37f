"""The Dash app: registers the pages and exposes `app` and `server` (run with `gunicorn webapp:server`).

Pages are registered here rather than discovered from a folder, so each page is a layout module plus a callbacks
module, and this file stays a short list. `?lang=vi|en` picks the language; the default is a setting.

`warm_up()` finishes Dash's one-time set-up before a worker serves (gunicorn.conf.py calls it in each worker).
"""

from __future__ import annotations

from pathlib import Path

import dash
from dash import Dash
from dash.development.base_component import Component

import callbacks.wall  # noqa: F401  (registers the wall's callbacks)
from callbacks import app_city, app_settings
from ioc.i18n import normalize_lang
from layouts import wall

ASSETS: Path = Path(__file__).resolve().parent / "assets"

app = Dash(
    __name__,
    use_pages=True,
    pages_folder="",
    assets_folder=str(ASSETS),
    serve_locally=True,
    update_title="",
    title="IOC",
)
server = app.server


def wall_page(lang: str | None = None, **_query: object) -> Component:
    """The wall at `/`, in the language asked for in the query string or the configured default."""
    settings = app_settings()
    chosen = normalize_lang(lang, settings.language)
    return wall.layout(app_city(), lang=chosen, refresh_ms=settings.wall_refresh_ms, tile_url=settings.tile_url)


dash.register_page("wall", path="/", name="Wall", title="IOC", layout=wall_page)  # type: ignore[no-untyped-call]
app.layout = dash.page_container


def warm_up() -> None:
    """Run Dash's first-request set-up once, in this thread, so concurrent first requests all find it finished.

    Dash 4.4 sets up on the first request (a before_request hook) and marks itself done before it has registered
    the component bundle paths, so other threads' first requests get HTTP 500 for the scripts and the page stays
    blank. One request for the page through Flask's test client runs every such hook (server set-up, the pages
    router) and renders the index, which registers every bundle path the page refers to.
    """
    with server.test_client() as client:
        response = client.get(app.config.routes_pathname_prefix)
    if response.status_code != 200:
        raise RuntimeError(f"warm-up request for the page answered HTTP {response.status_code}")
