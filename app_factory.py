"""The app factory: `create_app(settings)` builds the Dash app: its pages, the shell around them, the assets, the
page HTML's inline scripts, and the per-process resources its callbacks use (callbacks.Resources, kept on the
Flask server). webapp.py builds the app gunicorn serves; tests and benchmarks build their own with the settings
they need.

Pages are listed here rather than discovered from a folder: a page is a `callbacks/<page>/page.py` that registers
itself with `callbacks.auth.register_page`, its layout guarded by its permission (and imports its callbacks), and a
`layouts/<page>/` package of pure builders. The factory refuses to build an app with a page registered any other way.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Final

from dash import Dash
from dash import _callback as dash_callbacks

from callbacks import Resources, attach, auth, bad_input
from ioc.settings import Settings
from layouts import shell

ASSETS: Final = Path(__file__).resolve().parent / "assets"
# Modules that register a page (callbacks.auth.register_page) and its callbacks when imported, in navigation order.
PAGES: Final = ("callbacks.wall.page", "callbacks.incidents.page", "callbacks.managers.page", "callbacks.admin.page")
SHELL_CALLBACKS: Final = "callbacks.shell"  # the navigation's own callback

# Callbacks registered with `dash.callback` by the page modules. Dash moves them from its global registry into the
# first app that serves a request, and the next app of the process would get none; the factory takes them over
# once and gives every app it builds its own copy, so tests and benchmarks can build one app per set of settings.
_callback_map: dict[str, dict[str, Any]] = {}
_callback_list: list[dict[str, Any]] = []
_inline_scripts: list[str] = []


def _take_page_callbacks() -> None:
    """Move the callbacks registered with `dash.callback` so far from Dash's global registry to the factory's."""
    _callback_map.update(dash_callbacks.GLOBAL_CALLBACK_MAP)
    dash_callbacks.GLOBAL_CALLBACK_MAP.clear()
    _callback_list.extend(dash_callbacks.GLOBAL_CALLBACK_LIST)
    dash_callbacks.GLOBAL_CALLBACK_LIST.clear()
    _inline_scripts.extend(dash_callbacks.GLOBAL_INLINE_SCRIPTS)
    dash_callbacks.GLOBAL_INLINE_SCRIPTS.clear()


def create_app(settings: Settings) -> Dash:
    """A Dash app serving every page with these settings; its `server` is the WSGI app for gunicorn.

    Opens nothing that would outlive the app but a Redis client on first use (close it with
    `callbacks.resources_of(app.server).close()` when an app is thrown away)."""
    app = Dash(
        __name__,
        # Its session settings are read from the resources attached to it. Dash's annotation of `server` omits the
        # server instance its documentation accepts ("A server instance: Use a pre-existing server (Flask, ...)").
        server=auth.SessionServer(__name__),  # type: ignore[arg-type]
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS),
        serve_locally=True,
        update_title="",
        title="IOC",
        # Otherwise Dash's pages router builds a "validation layout" from every page's layout at the first request
        # and puts it in every page's HTML: as the warm-up has no session, it held the guard's refusals instead of
        # the pages (the browser then reported every wall callback as "ID not found in layout"), and built for a
        # signed-in first request it would hand one principal's page (the admin's accounts) to everyone.
        suppress_callback_exceptions=True,
    )
    attach(app.server, Resources.open(settings))
    auth.install(app)
    bad_input.install(app)  # after the gate: without a session, 401 comes first
    for module in (*PAGES, SHELL_CALLBACKS):
        importlib.import_module(module)  # once per process: dash.register_page needs an app to exist first
    unguarded = auth.unguarded_pages()
    if unguarded:
        raise RuntimeError(f"pages registered without the guard of their permission: {', '.join(unguarded)}")
    _take_page_callbacks()
    for key, spec in _callback_map.items():
        app.callback_map[key] = dict(spec)
    app._callback_list.extend(dict(spec) for spec in _callback_list)
    app._inline_scripts.extend(_inline_scripts)
    app.layout = shell.layout
    app.index_string = shell.index_string(app.index_string)
    return app


def warm_up(app: Dash) -> None:
    """Run Dash's first-request set-up once, in this thread, so concurrent first requests all find it finished."""
    # Dash 4.4 sets up on the first request (a before_request hook) and marks itself done before it has registered
    # the component bundle paths, so other threads' first requests are refused the scripts (Dash's "not a registered
    # library", HTTP 404 from callbacks.bad_input, 500 before it) and the page stays blank. One request for the
    # page runs every such hook (server set-up, the pages router) and renders the index, which registers every
    # bundle path the page refers to.
    # Pages need a session now: the login page, served to anyone, runs the same first-request hooks; the index is
    # then rendered in a request context of its own (no session needed to build the HTML, which holds no data).
    with app.server.test_client() as client:
        response = client.get(auth.LOGIN_PATH)
    if response.status_code != 200:
        raise RuntimeError(f"warm-up request for the login page answered HTTP {response.status_code}")
    with app.server.test_request_context(app.config.routes_pathname_prefix):
        app.index()  # type: ignore[no-untyped-call]
