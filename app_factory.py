"""The app factory: `create_app(settings)` builds the process's one Dash app: its pages, the shell around them, the
assets, the page HTML's inline scripts, and the per-process resources its callbacks use (callbacks.Resources, kept
on the Flask server). webapp.py builds the app gunicorn serves.

One app per process: Dash keeps the pages (`dash.register_page`) and the callbacks registered with `dash.callback` in
registries of the process, which the first app's first request takes over, so a second app would serve no page
callbacks; `create_app` refuses a second call. Every setting reaches the app through the resources attached to its
server, read at each request (the server's session key, idle lifetime, cookie flag, trusted proxies and tile server
too: callbacks.auth.SessionServer), never copied into the app when it is built. So tests and benchmarks that need
other settings attach other resources to the one app for a while (`serving(settings)`), and that app then serves as
one built with those settings would.

Pages are listed here rather than discovered from a folder: a page is a `callbacks/<page>/page.py` that registers
itself with `callbacks.auth.register_page`, its layout guarded by its permission (and imports its callbacks), and a
`layouts/<page>/` package of pure builders. The factory refuses to build an app with a page registered any other way.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from dash import Dash

from callbacks import Resources, attach, auth, bad_input, metrics, resources_of
from callbacks.health import health
from callbacks.wall.geometry import geometry
from callbacks.wall.push import push
from ioc.settings import Settings
from layouts import shell

ASSETS: Final = Path(__file__).resolve().parent / "assets"
# Modules that register a page (callbacks.auth.register_page) and its callbacks when imported, in navigation order.
PAGES: Final = (
    "callbacks.wall.page",
    "callbacks.incidents.page",
    "callbacks.managers.page",
    "callbacks.exercises.page",
    "callbacks.exercises.report",
    "callbacks.admin.page",
    "callbacks.not_found_404",  # what in-app navigation to an unknown address shows (not in the navigation)
)
SHELL_CALLBACKS: Final = "callbacks.shell"  # the navigation's own callback

_built: list[Dash] = []  # the process's app, once built


def create_app(settings: Settings) -> Dash:
    """The process's one Dash app, serving every page with these settings; its `server` is the WSGI app for gunicorn.
    RuntimeError if this process built it already (see the module's note; for other settings: `serving`).

    Opens nothing but a Redis client and the database on first use (`callbacks.resources_of(app.server).close()`
    closes them)."""
    if _built:
        raise RuntimeError(
            "this process has built its Dash app already (one per process: Dash's pages and callbacks are the "
            "process's); serve other settings with app_factory.serving(settings)"
        )
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
    _built.append(app)
    attach(app.server, Resources.open(settings))
    auth.install(app)
    bad_input.install(app)  # after the gate: without a session, 401 comes first
    app.server.register_blueprint(health)
    app.server.register_blueprint(push)  # the wall's push streams (guarded by the gate and the view)
    app.server.register_blueprint(geometry)  # the map's geometry files (guarded by the gate and the view)
    metrics.install(app.server)
    for module in (*PAGES, SHELL_CALLBACKS):
        # dash.register_page needs the app to exist; the callbacks (`dash.callback`) wait in Dash's registry until
        # the app's first request takes them over.
        importlib.import_module(module)
    unguarded = auth.unguarded_pages()
    if unguarded:
        raise RuntimeError(f"pages registered without the guard of their permission: {', '.join(unguarded)}")
    app.layout = shell.layout
    app.index_string = shell.index_string(app.index_string)
    return app


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[Dash]:
    """The process's one app serving with the resources of `settings` while the block runs (tests, benchmarks): built
    with them if the process has none yet; else they are attached in place of the app's own, which are attached again
    afterwards. Every setting reaches the app through its resources, so it serves as one built with `settings` would.
    These resources are closed afterwards. For one thread at a time: no request of the app may be in flight when the
    block starts or ends."""
    app = _built[0] if _built else create_app(settings)
    server = app.server
    before = resources_of(server)
    these = Resources.open(settings)
    attach(server, these)
    try:
        yield app
    finally:
        attach(server, before)
        these.close()


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
