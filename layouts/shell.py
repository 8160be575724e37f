"""The shell around every page: one frame holding Dash Pages' container, with places for the header and the
navigation (empty and hidden for now: the login, the user menu and the pages a role may open come next), and the
inline scripts of the page HTML: the state tables for the map script and the page watchdog.

Pure: the layout and the HTML template depend on nothing but their arguments.
"""

from __future__ import annotations

from typing import Final

import dash
from dash import html
from dash.development.base_component import Component

from layouts import states

PREFIX: Final = "shell"
ROOT: Final = "shell"
HEADER: Final = "shell-header"
NAV: Final = "shell-nav"

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


def layout() -> Component:
    """The frame of every page: header and navigation places (hidden while empty), then the page itself."""
    return html.Div(
        id=ROOT,
        className="shell",
        children=[
            html.Header(id=HEADER, className="shell-header", hidden=True),
            html.Nav(id=NAV, className="shell-nav", hidden=True),
            dash.page_container,
        ],
    )


def index_string(template: str) -> str:
    """Dash's page HTML template with the inline scripts added after the stylesheets, before any asset script:
    the page watchdog, and the state tables assets/wall_map.js reads (layouts/states.py)."""
    scripts = (
        f'<script id="ioc-page-watchdog" data-after-ms="{PAGE_WATCHDOG_MS}" data-max-ms="{PAGE_WATCHDOG_MAX_MS}"'
        f' data-ready="{PAGE_READY_SELECTOR}">{PAGE_WATCHDOG_JS}</script>\n'
        f'<script id="ioc-states">{states.script()}</script>'
    )
    if "{%css%}" not in template:
        raise ValueError("the page template has no {%css%} placeholder to put the scripts after")
    return template.replace("{%css%}", "{%css%}\n" + scripts)
