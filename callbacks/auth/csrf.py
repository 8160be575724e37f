"""Cross-site request forgery: Flask-WTF's CSRFProtect on every form POST of the app (sign in, sign out, turning a
browser into a wall screen), its token kept in the session and sent as the form field `csrf`.

Dash's callback endpoint (POST /_dash-update-component) is exempt: Dash's renderer sends a CSRF header only from a
`_csrf_token` cookie readable by scripts, which this app does not set. That endpoint is held by the session cookie's
SameSite=Lax (a cross-site POST carries no session, so the gate answers 401) and by its JSON body (Flask reads only
`application/json`, which a cross-site form cannot send and a cross-site script may send only after a CORS preflight
the app never grants). Every other POST route, including ones added later, is checked by default.
"""

from __future__ import annotations

from typing import Final

import dash
from flask import Flask, g
from flask_wtf.csrf import CSRFProtect, generate_csrf

FIELD: Final = "csrf"  # the form field, and the session key of the token's secret half (Flask-WTF's own)


def install(app: dash.Dash) -> None:
    """CSRFProtect on the app's server, Dash's own POST endpoints exempt (see the module's note). Install it after
    the gate, so that a request without a session is refused 401 first."""
    server: Flask = app.server
    server.config.update(
        WTF_CSRF_FIELD_NAME=FIELD,
        # A token lives as long as its session (ended by idling, the absolute lifetime or sign-out): a wall or a
        # desk left open for a day must still be able to sign out.
        WTF_CSRF_TIME_LIMIT=None,
        # Flask-WTF would also demand a same-origin Referer on HTTPS, but every page is served with
        # Referrer-Policy: no-referrer (a wall's address holds its token), so browsers send none.
        WTF_CSRF_SSL_STRICT=False,
    )
    protect = CSRFProtect(server)
    prefix = app.config.routes_pathname_prefix + "_dash-"
    for rule in server.url_map.iter_rules():
        if rule.rule.startswith(prefix) and "POST" in (rule.methods or ()):
            protect.exempt(server.view_functions[rule.endpoint])


def token() -> str:
    """This session's CSRF token for a form (made on first use; signed, so each page may carry another text)."""
    return str(generate_csrf())


def renew() -> None:
    """A new CSRF secret for a session being started (the one of the request's earlier session must not carry over)."""
    g.pop(FIELD, None)  # Flask-WTF keeps the request's signed token here
    generate_csrf()
