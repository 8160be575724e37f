"""Who is asking, and may they: sessions (Flask-Login, signed cookies), the login, logout and display-token views, and
the one gate and the guards every page and every callback goes through. One module per job:

- `principal`: the principal of a request (a person's account or a wall screen's display token), the user loader
  that checks it against the database on every request (one query by id), the database-down degraded mode, and
  where the principal works (`workspace`: live, or the exercise a trainee trains in), decided once per request.
- `sessions`: a session's start, its absolute lifetime for a person (IOC_SESSION_MAX_HOURS), sign-out marked in
  Redis so a copy of the cookie is refused too; `SessionServer`, the app's Flask server, whose key, idle lifetime
  and Secure flag are read from the attached resources.
- `gate`: the before_request hook (401 / login redirect / 403 / 404 for an address with no page).
- `guards`: `guarded(permission)` on each callback; `register_page(..., permission=...)`, the one way a page is
  registered, its layout guarded.
- `views`: the login, logout, display and status views, a Flask blueprint.
- `csrf`: Flask-WTF's CSRFProtect on the forms (Dash's JSON callback endpoint exempt: see there why).
- `devices`: the device cookies that let a person's own browser sign in while their name is locked elsewhere.

The names other modules use are imported from here (`from callbacks.auth import guarded, principal`).
"""

from __future__ import annotations

import dash
from flask import Flask
from flask_login import LoginManager

from callbacks import headers, resources_of
from callbacks.auth import csrf
from callbacks.auth.gate import DISPLAY_PATH, LOGIN_PATH, LOGOUT_PATH, STATUS_PATH, gate, login_url, page_permission
from callbacks.auth.guards import GUARD_ATTRIBUTE, guarded, register_page, unguarded_pages
from callbacks.auth.principal import (
    SIGNED_IN,
    Principal,
    acting_principal,
    client_address,
    load_principal,
    principal,
    workspace,
)
from callbacks.auth.sessions import SessionServer
from callbacks.auth.sessions import start as start_session
from callbacks.auth.views import views
from ioc.proxies import TrustedProxies

__all__ = [
    "DISPLAY_PATH",
    "GUARD_ATTRIBUTE",
    "LOGIN_PATH",
    "LOGOUT_PATH",
    "SIGNED_IN",
    "STATUS_PATH",
    "Principal",
    "SessionServer",
    "acting_principal",
    "client_address",
    "csrf_token",
    "guarded",
    "install",
    "login_url",
    "page_permission",
    "principal",
    "register_page",
    "start_session",
    "unguarded_pages",
    "workspace",
]

csrf_token = csrf.token


def install(app: dash.Dash) -> None:
    """Sessions, the gate, CSRF protection and the auth views on an app's server, a SessionServer (the factory calls
    this once). Nothing here reads a setting: the key, the idle lifetime, the cookie's Secure flag, the trusted
    proxies and the tile server are read from the attached resources at each request."""
    server: Flask = app.server
    if not isinstance(server, SessionServer):
        raise TypeError("the app's server must be a callbacks.auth.SessionServer (its session settings)")
    server.config.update(
        SESSION_COOKIE_NAME="ioc_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_REFRESH_EACH_REQUEST=True,  # idle time: every request (a wall's tick too) renews the session
    )
    manager = LoginManager()
    manager.user_loader(load_principal)
    manager.session_protection = "basic"
    manager.init_app(server)
    server.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
        server.wsgi_app, lambda: resources_of(server).trusted_proxies
    )
    headers.install(app)
    server.before_request(gate)
    csrf.install(app)  # after the gate: a POST without a session is refused 401 first
    server.register_blueprint(views)
