"""Who is asking, and may they: sessions (Flask-Login, signed cookies), the login, logout and display-token views, and
the one gate and the guards every page and every callback goes through. One module per job:

- `principal`: the principal of a request (a person's account or a wall screen's display token), the user loader
  that checks it against the database on every request (one query by id), the database-down degraded mode.
- `sessions`: a session's start, its absolute lifetime for a person (IOC_SESSION_MAX_HOURS), sign-out marked in
  Redis so a copy of the cookie is refused too.
- `gate`: the before_request hook (401 / login redirect / 403 / 404 for an address with no page).
- `guards`: `guarded(permission)` on each callback, `guarded_layout(permission, build)` on each page layout.
- `views`: the login, logout, display and status views, a Flask blueprint.
- `csrf`: Flask-WTF's CSRFProtect on the forms (Dash's JSON callback endpoint exempt: see there why).
- `devices`: the device cookies that let a person's own browser sign in while their name is locked elsewhere.

The names other modules use are imported from here (`from callbacks.auth import guarded, principal`).
"""

from __future__ import annotations

from datetime import timedelta

import dash
from flask import Flask
from flask_login import LoginManager

from callbacks import headers, resources_of
from callbacks.auth import csrf
from callbacks.auth.gate import DISPLAY_PATH, LOGIN_PATH, LOGOUT_PATH, STATUS_PATH, gate, login_url, page_permission
from callbacks.auth.guards import GUARD_ATTRIBUTE, SIGNED_IN, guarded, guarded_layout
from callbacks.auth.principal import Principal, acting_principal, client_address, load_principal, principal
from callbacks.auth.sessions import start as start_session
from callbacks.auth.views import views
from ioc.proxies import TrustedProxies
from ioc.secret_key import secret_key

__all__ = [
    "DISPLAY_PATH",
    "GUARD_ATTRIBUTE",
    "LOGIN_PATH",
    "LOGOUT_PATH",
    "SIGNED_IN",
    "STATUS_PATH",
    "Principal",
    "acting_principal",
    "client_address",
    "csrf_token",
    "guarded",
    "guarded_layout",
    "install",
    "login_url",
    "page_permission",
    "principal",
    "start_session",
]

csrf_token = csrf.token


def install(app: dash.Dash) -> None:
    """Sessions, the gate, CSRF protection and the auth views on an app's server (the factory calls this once per
    app)."""
    server: Flask = app.server
    settings = resources_of(server).settings
    server.secret_key = secret_key(settings)
    server.config.update(
        SESSION_COOKIE_NAME="ioc_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_idle_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,  # idle time: every request (a wall's tick too) renews the session
    )
    manager = LoginManager()
    manager.user_loader(load_principal)
    manager.session_protection = "basic"
    manager.init_app(server)
    server.wsgi_app = TrustedProxies(server.wsgi_app, settings.trusted_proxy_networks)  # type: ignore[method-assign]
    headers.install(app, settings.tile_url)
    server.before_request(gate)
    csrf.install(app)  # after the gate: a POST without a session is refused 401 first
    server.register_blueprint(views)
