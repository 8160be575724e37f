"""The shell around every page: one frame holding Dash Pages' container, with places for the header and the
navigation (filled by callbacks/shell.py for a signed-in person: the pages their role may open, who they are, sign
out; hidden for a wall screen's display token), and the inline scripts of the page HTML: the page watchdog, the
state tables for the map script and the access watch.

Pure: the layout and the HTML template depend on nothing but their arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs

import dash
from dash import dcc, html
from dash.development.base_component import Component

from ioc.i18n import LANGS, t
from ioc.links import lang_link
from layouts import states

PREFIX: Final = "shell"
LOCATION: Final = "_pages_location"  # Dash Pages' own dcc.Location inside dash.page_container
ROOT: Final = "shell"
HEADER: Final = "shell-header"
NAV: Final = "shell-nav"
BANNER: Final = "shell-exercise"  # "DIỄN TẬP / EXERCISE": a trainee's exercise, on every page
BANNER_POLL: Final = "shell-exercise-poll"
BANNER_POLL_MS: Final = 10_000

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


ACCESS_WATCH_MS: Final = 10_000  # how often the page asks whether its session still stands (`?access_watch_ms=`)
ACCESS_REVOKED_TEXT: Final = "Quyền truy cập đã bị thu hồi · Access revoked"
# Polls /auth/status. A wall screen whose display token was revoked stops showing city data and says so (its ticks
# are refused from then on; the server says "kind: display" for a revoked token's session, so this holds after a
# reload too); a person whose session ended is taken to the login, back to this page afterwards.
ACCESS_WATCH_JS: Final = """
(function () {
  var script = document.currentScript;
  var asked = Number(new URLSearchParams(location.search).get("access_watch_ms"));
  var WAIT = Math.max(200, asked || Number(script.getAttribute("data-every-ms")));
  var display = false;
  function revoked() {
    if (!document.body) { setTimeout(revoked, 100); return; }
    var root = document.getElementById("react-entry-point");
    if (root) { root.style.display = "none"; }
    if (!document.getElementById("ioc-access-revoked")) {
      var box = document.createElement("div");
      box.id = "ioc-access-revoked";
      box.className = "ioc-access-revoked";
      box.textContent = script.getAttribute("data-revoked");
      document.body.appendChild(box);
    }
  }
  function signIn() {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }
  function check() {
    fetch("/auth/status", { cache: "no-store", credentials: "same-origin" }).then(function (response) {
      if (response.status === 401) {
        response.json().then(function (why) {
          if (display || why.kind === "display") { revoked(); } else { signIn(); }
        }, function () { if (display) { revoked(); } else { signIn(); } });
        return;
      }
      if (response.ok) { response.json().then(function (who) { display = who.kind === "display"; }); }
      setTimeout(check, WAIT);
    }, function () { setTimeout(check, WAIT); });
  }
  check();
})();
"""


def layout() -> Component:
    """The frame of every page: the exercise banner, header and navigation places (hidden while empty), then the page
    itself; the banner's poll is off until the shell's callback finds a person (never for a wall screen)."""
    return html.Div(
        id=ROOT,
        className="shell",
        children=[
            html.Div(id=BANNER, className="shell-exercise", hidden=True, role="status"),
            dcc.Interval(id=BANNER_POLL, interval=BANNER_POLL_MS, disabled=True),
            html.Header(id=HEADER, className="shell-header", hidden=True),
            html.Nav(id=NAV, className="shell-nav", hidden=True),
            dash.page_container,
        ],
    )


@dataclass(frozen=True)
class NavPage:
    """A page in the navigation: its path and the key of its label (ioc/i18n.py)."""

    path: str
    label: str


def query_lang(search: str | None) -> str | None:
    """The `lang` of a query string ("?lang=en"), if any."""
    values = parse_qs((search or "").lstrip("?")).get("lang")
    return values[0] if values else None


def nav(pages: list[NavPage], current: str, name: str, role: str, csrf: str, lang: str) -> list[Component]:
    """The navigation of a signed-in person: the pages their role may open, who they are, and sign out (a form
    POST carrying the session's CSRF token)."""
    links = [
        html.A(
            t(page.label, lang),
            href=lang_link(page.path, lang),
            id=f"{NAV}-{page.path.strip('/') or 'wall'}",
            className="shell-link is-current" if page.path == current else "shell-link",
        )
        for page in pages
    ]
    user = html.Span([html.B(name), f" · {t(f'role.{role}', lang)}"], className="shell-user", id=f"{NAV}-user")
    logout = html.Form(
        action="/logout",
        method="post",
        className="shell-logout",
        children=[
            dcc.Input(type="hidden", name="csrf", value=csrf),
            dcc.Input(type="hidden", name="lang", value=lang),
            html.Button(t("shell.logout", lang), type="submit", id=f"{NAV}-logout"),
        ],
    )
    other = next(code for code in LANGS if code != lang)
    switch = html.A(other.upper(), href=lang_link(current, other), id=f"{NAV}-lang", className="shell-link")
    return [*links, user, switch, logout]


def banner(
    name: str, status: str, speed: float, clock: str, messages: list[tuple[str, str, str, str]], lang: str
) -> list[Component]:
    """The exercise banner's content: "DIỄN TẬP / EXERCISE", the exercise (name, status, speed, its clock) and the
    newest messages it sent (time, from, to, text)."""
    return [
        html.Span(t("exercise.banner", lang), className="shell-exercise-title"),
        html.Span(t("exercise.banner.detail", lang, name=name, status=status, speed=f"{speed:g}", clock=clock)),
        *(
            html.Span(
                t("exercise.banner.message", lang, time=at, sender=sender, recipient=recipient, text=text),
                className="shell-exercise-message",
            )
            for at, sender, recipient, text in messages
        ),
    ]


def inline_scripts() -> tuple[str, ...]:
    """The bodies of the page's own inline scripts (index_string), for the Content-Security-Policy's hashes."""
    return PAGE_WATCHDOG_JS, states.script(), ACCESS_WATCH_JS


def index_string(template: str) -> str:
    """Dash's page HTML template with the inline scripts added after the stylesheets, before any asset script:
    the page watchdog, the state tables assets/wall_map.js reads (layouts/states.py) and the access watch."""
    scripts = (
        f'<script id="ioc-page-watchdog" data-after-ms="{PAGE_WATCHDOG_MS}" data-max-ms="{PAGE_WATCHDOG_MAX_MS}"'
        f' data-ready="{PAGE_READY_SELECTOR}">{PAGE_WATCHDOG_JS}</script>\n'
        f'<script id="ioc-states">{states.script()}</script>\n'
        f'<script id="ioc-access-watch" data-every-ms="{ACCESS_WATCH_MS}" data-revoked="{ACCESS_REVOKED_TEXT}">'
        f"{ACCESS_WATCH_JS}</script>"
    )
    if "{%css%}" not in template:
        raise ValueError("the page template has no {%css%} placeholder to put the scripts after")
    return template.replace("{%css%}", "{%css%}\n" + scripts)
