"""The gate: a before_request hook every request passes. Public files and the auth views pass; without a session the
Dash endpoints and the push streams answer 401 with no city data and pages redirect to the login (the address to come
back to goes along, encoded, and `next` is only ever a path on this site); a wall screen whose display token was
revoked gets "access revoked" (401) instead of a login form nobody is there to fill in; a page the role may not open
answers 403 (503 while the database is down and only the wall is served); an address where no page is registered
answers 404."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

import dash
from flask import Response, redirect, request

from callbacks import resources
from callbacks.auth.guards import refusal
from callbacks.auth.principal import principal, revoked_display
from callbacks.health import HEALTH_PATH, READY_PATH
from callbacks.metrics import METRICS_PATH
from ioc.i18n import normalize_lang
from ioc.identity.roles import Permission, may
from ioc.links import site_path
from layouts import login as login_page

LOGIN_PATH: Final = "/login"
LOGOUT_PATH: Final = "/logout"
DISPLAY_PATH: Final = "/display"
STATUS_PATH: Final = "/auth/status"
# Served to anyone: the login and its scripts' and styles' files, Dash's component bundles (code, no city data), the
# health checks (callbacks.health: no city data either), /metrics (callbacks.metrics: guarded by its own rule).
PUBLIC_PATHS: Final = frozenset(
    {
        LOGIN_PATH,
        LOGOUT_PATH,
        DISPLAY_PATH,
        STATUS_PATH,
        "/favicon.ico",
        "/_favicon.ico",
        HEALTH_PATH,
        READY_PATH,
        METRICS_PATH,
    }
)
PUBLIC_PREFIXES: Final = ("/assets/", "/_dash-component-suites/")
DASH_DATA_PREFIX: Final = "/_dash-"  # layout, dependencies and callbacks: city data, so a session is needed
PUSH_PREFIX: Final = "/push/"  # the wall's push streams (callbacks/wall/push.py): a session is needed
GEOMETRY_PREFIX: Final = "/city/geometry/"  # the map's geometry files (callbacks/wall/geometry.py): a session too
PAGE_RULE: Final = "<path:path>"  # Dash's route serving every page address but the root (its index HTML)


def page_permission(path: str) -> Permission | None:
    """The permission a registered page needs (its `permission` in dash.register_page), None if no such page. A
    trailing slash names the same page, as it does for Dash's pages router."""
    prefix = dash.get_app().config.requests_pathname_prefix.rstrip("/")  # type: ignore[no-untyped-call]
    wanted = path[len(prefix) :] if prefix and path.startswith(prefix) else path
    for page in dash.page_registry.values():
        if str(page.get("module", "")).endswith("not_found_404"):
            continue  # Dash's router shows it for unknown addresses; its own address is not a page either
        if str(page.get("path", "")).strip("/") == wanted.strip("/"):
            permission = page.get("permission")
            return permission if isinstance(permission, Permission) else Permission.VIEW_WALL
    return None


def gate() -> Response | None:
    """Before every request: see the module's note."""
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    who = principal()
    if path.startswith((DASH_DATA_PREFIX, PUSH_PREFIX, GEOMETRY_PREFIX)):
        if who is None:
            return refusal(401)
        return None  # the callbacks, streams and files check their own permission; the layout is the shell
    needed = page_permission(path) if who is not None else None
    if needed is not None:
        who = principal(needed)  # a page other than the wall: a principal kept by this process is checked again
    if who is None:
        if revoked_display():
            return Response(login_page.revoked_html(lang()), status=401, mimetype="text/html")
        return redirect(login_url(request.full_path, request.args.get("lang")))  # type: ignore[return-value]
    if needed is None:
        if _is_page_address():
            return Response(login_page.not_found_html(lang(), path), status=404, mimetype="text/html")
        return None
    if who.degraded and needed != Permission.VIEW_WALL and may(who.role, needed):
        return Response(login_page.unavailable_html(lang()), status=503, mimetype="text/html")
    if not who.may(needed):
        return Response(login_page.forbidden_html(lang(), who.name), status=403, mimetype="text/html")
    return None


def _is_page_address() -> bool:
    """Whether this request went to Dash's page route: an address served as a page of the app (any other route, the
    auth views' or Dash's own endpoints, is not a page)."""
    rule = request.url_rule
    prefix = dash.get_app().config.routes_pathname_prefix  # type: ignore[no-untyped-call]
    return rule is not None and rule.rule == prefix + PAGE_RULE


def lang() -> str:
    """The language this request asks for (`lang` in its query or form), else the app's default."""
    return normalize_lang(request.args.get("lang") or request.form.get("lang"), resources().settings.language)


def local(target: str | None) -> str:
    """A redirect target kept on this site (ioc.links.site_path), never the login page itself."""
    return site_path(target, refuse=(LOGIN_PATH,))


def login_url(target: str | None, lang: str | None = None) -> str:
    """The login page's address taking the person back to `target` (a path on this site) afterwards."""
    query = {"next": local(target)}
    if lang:
        query["lang"] = lang
    return f"{LOGIN_PATH}?{urlencode(query)}"
