"""The Dash app: registers the pages and exposes `app` and `server` (run with `gunicorn webapp:server`).

Pages are registered here rather than discovered from a folder, so each page is a layout module plus a callbacks
module, and this file stays a short list. `?lang=vi|en` picks the language; the default is a setting.

`warm_up()` finishes Dash's one-time set-up before a worker serves (gunicorn.conf.py calls it in each worker), and
a small inline script in the page reloads it when Dash's own scripts failed to start, so a wall recovers unattended.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import dash
from dash import Dash
from dash.development.base_component import Component

import callbacks.wall  # noqa: F401  (registers the wall's callbacks)
from callbacks import app_city, app_settings
from ioc.i18n import normalize_lang
from layouts import states, wall

ASSETS: Path = Path(__file__).resolve().parent / "assets"
PAGE_WATCHDOG_MS: Final = 20_000  # a page not rendered this long after loading is reloaded (`?watchdog_ms=` shortens)
PAGE_WATCHDOG_MAX_MS: Final = 300_000  # the wait doubles after each reload that did not help, up to this
# Rendered means: Dash replaced its "Loading..." placeholder, shows no "Error loading ..." and the page container
# (dash.page_container's content div) holds the page.
PAGE_READY_SELECTOR: Final = "#_pages_content > *"

# Inline, not in assets/: it must run when Dash's bundles did not load (a 500 or a dropped connection for one of
# them leaves the page on "Loading..." for good). It reloads only once the server answers, because a reload with
# the server away would leave the browser on its own error page, where no script of ours runs any more.
PAGE_WATCHDOG_JS: Final = """
(function () {
  var KEY = "ioc-page-reloads";
  var script = document.currentScript;
  var asked = Number(new URLSearchParams(location.search).get("watchdog_ms"));
  var base = Math.max(1000, asked || Number(script.getAttribute("data-after-ms")));
  var longest = Number(script.getAttribute("data-max-ms"));
  var ready = script.getAttribute("data-ready");
  var failures = 0;
  try { failures = Number(sessionStorage.getItem(KEY)) || 0; } catch (err) { /* storage refused: no back-off */ }
  function remember(n) {
    try { if (n) { sessionStorage.setItem(KEY, String(n)); } else { sessionStorage.removeItem(KEY); } } catch (err) {}
  }
  function wait() { return Math.min(base * Math.pow(2, failures), longest); }
  function rendered() {
    return !document.querySelector("#react-entry-point ._dash-loading, #react-entry-point ._dash-error")
      && document.querySelector(ready) !== null;
  }
  var deadline = Date.now() + wait();
  function check() {
    if (rendered()) { remember(0); return; }
    if (Date.now() < deadline) { setTimeout(check, 500); return; }
    failures += 1;
    remember(failures);
    deadline = Date.now() + wait();
    fetch(location.href, { cache: "no-store", credentials: "same-origin" }).then(
      function (response) { if (response.ok) { location.reload(); } else { setTimeout(check, 500); } },
      function () { setTimeout(check, 500); }
    );
  }
  setTimeout(check, 500);
})();
"""

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
app.index_string = app.index_string.replace(
    "{%css%}",
    "{%css%}\n"
    f'<script id="ioc-page-watchdog" data-after-ms="{PAGE_WATCHDOG_MS}" data-max-ms="{PAGE_WATCHDOG_MAX_MS}"'
    f' data-ready="{PAGE_READY_SELECTOR}">{PAGE_WATCHDOG_JS}</script>\n'
    f'<script id="ioc-states">{states.script()}</script>',
)


def wall_page(lang: str | None = None, **_query: object) -> Component:
    """The wall at `/`, in the language asked for in the query string or the configured default."""
    settings = app_settings()
    chosen = normalize_lang(lang, settings.language)
    return wall.layout(app_city(), lang=chosen, refresh_ms=settings.wall_refresh_ms, tile_url=settings.tile_url)


dash.register_page("wall", path="/", name="Wall", title="IOC", layout=wall_page)  # type: ignore[no-untyped-call]
app.layout = dash.page_container


def warm_up() -> None:
    """Run Dash's first-request set-up once, in this thread, so concurrent first requests all find it finished."""
    # Dash 4.4 sets up on the first request (a before_request hook) and marks itself done before it has registered
    # the component bundle paths, so other threads' first requests get HTTP 500 for the scripts and the page stays
    # blank. One request for the page runs every such hook (server set-up, the pages router) and renders the
    # index, which registers every bundle path the page refers to.
    with server.test_client() as client:
        response = client.get(app.config.routes_pathname_prefix)
    if response.status_code != 200:
        raise RuntimeError(f"warm-up request for the page answered HTTP {response.status_code}")
