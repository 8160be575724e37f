"""The auth views, one Flask blueprint: the login form and its POST, sign-out (a form POST), a wall screen's
display-token link, and the access watch's status. Every POST carries the session's CSRF token (callbacks.auth.csrf:
CSRFProtect checks it before the view runs; a refusal is answered here, per view, as before the library did it)."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import redis
from flask import Blueprint, Response, jsonify, redirect, request
from flask_wtf.csrf import CSRFError

from callbacks import resources
from callbacks.auth import csrf, devices, sessions
from callbacks.auth.gate import DISPLAY_PATH, LOGIN_PATH, LOGOUT_PATH, STATUS_PATH, lang, local
from callbacks.auth.guards import refusal
from callbacks.auth.principal import Principal, client_address, principal, revoked_display
from ioc.errors import DatabaseError
from ioc.identity.accounts import LoginRefused, authenticate, get_account, record_logout
from ioc.identity.ratelimit import LoginLimiter
from ioc.identity.tokens import verify_display_token
from ioc.metrics import LOGINS
from layouts import login as login_page

log = logging.getLogger(__name__)

views = Blueprint("auth", __name__)


def _login_target() -> str:
    """Where a sign-in leads: the `next` path asked for (kept on this site), else the wall in the chosen language."""
    asked = request.args.get("next") or request.form.get("next")
    chosen = request.args.get("lang") or request.form.get("lang")
    return local(asked) if asked else (f"/?{urlencode({'lang': lang()})}" if chosen else "/")


@views.route(LOGIN_PATH, methods=["GET", "POST"])
def login() -> Response | str:
    """GET: the login form. POST: check the password (rate-limited, audited) and start a session."""
    target = _login_target()
    if request.method == "GET":
        return login_page.login_html(lang(), csrf=csrf.token(), target=target)
    res = resources()
    username = request.form.get("username", "")
    try:
        limiter = LoginLimiter.from_settings(res.redis, res.settings)
        outcome = authenticate(
            res.database,
            limiter,
            username,
            request.form.get("password", ""),
            client_address(),
            devices.device_of(username),
        )
    except (redis.RedisError, OSError, DatabaseError) as exc:
        log.error("login unavailable: %s", exc)
        LOGINS.labels("unavailable").inc()
        html = login_page.login_html(lang(), csrf=csrf.token(), target=target, problem="unavailable", username=username)
        return Response(html, 503)
    if isinstance(outcome, LoginRefused):
        LOGINS.labels(str(outcome.reason)).inc()
        wait = int(outcome.retry_after_s + 0.999) if outcome.retry_after_s else None
        html = login_page.login_html(
            lang(), csrf=csrf.token(), target=target, problem=outcome.shown, username=username, retry_after_s=wait
        )
        if outcome.shown == "rate_limited":
            return Response(html, 429, headers={"Retry-After": str(wait or 1)})
        return Response(html, 401)
    sessions.start(Principal.of_account(outcome))
    LOGINS.labels("success").inc()
    response: Response = redirect(target)  # type: ignore[assignment]
    devices.remember(response, outcome.username, path=LOGIN_PATH, secure=res.settings.cookie_secure)
    return response


@views.route(LOGOUT_PATH, methods=["GET", "POST"])
def logout() -> Response:
    """End the session (audited); a form POST with the session's CSRF token, so no other site can sign one out
    (without it nothing changes: see `_refused`). GET only to refuse it: Dash's page route would otherwise serve
    the app's page at /logout."""
    if request.method != "POST":
        return Response(
            "Sign out with the page's button (a POST).\n", 405, headers={"Allow": "POST"}, mimetype="text/plain"
        )
    who = principal()
    if who is not None:
        if who.kind == "account":
            account = get_account(resources().database, who.ref)
            if account is not None:
                record_logout(resources().database, account, client_address())
        sessions.end()
    return _to_login()


def _to_login() -> Response:
    return redirect(f"{LOGIN_PATH}?{urlencode({'lang': lang()})}")  # type: ignore[return-value]


@views.route(DISPLAY_PATH, methods=["GET", "POST"])
def display() -> Response:
    """A wall screen opens its display-token URL once: signed in as that token, on to the kiosk wall. In a browser
    where a person is signed in, the link first asks (GET) and replaces that session only when the person confirms
    (POST with the session's CSRF token): a link must not quietly turn someone's desk into a wall."""
    given = request.form.get("token") if request.method == "POST" else request.args.get("token")
    token = verify_display_token(resources().database, given)
    if token is None:
        return Response(login_page.revoked_html(lang()), status=401, mimetype="text/html")
    who = principal()
    if who is not None and who.kind == "account":
        if request.method == "GET":
            return _display_confirm(who, token.name, given or "", 200)
        account = get_account(resources().database, who.ref)
        if account is not None:
            record_logout(resources().database, account, client_address())
        sessions.end()
    sessions.start(Principal.of_token(token))
    chosen = request.values.get("lang")
    return redirect(f"/?{urlencode({'lang': chosen})}" if chosen else "/")  # type: ignore[return-value]


def _display_confirm(who: Principal, wall: str, given: str, status: int) -> Response:
    html = login_page.display_confirm_html(lang(), name=who.name, wall=wall, csrf=csrf.token(), token=given)
    return Response(html, status=status, mimetype="text/html")


@views.route(STATUS_PATH, methods=["GET"])
def status() -> Response:
    """Whether this browser still has a session (the page's access watch polls it): 200 with who, or 401."""
    who = principal()
    if who is None:
        if not revoked_display():
            return refusal(401)
        response = jsonify({"error": "access revoked", "kind": "display"})
        response.status_code = 401
        return response
    return jsonify({"name": who.name, "role": who.role.value, "kind": who.kind})


@views.errorhandler(CSRFError)
def _refused(error: CSRFError) -> Response:
    """A POST without this session's CSRF token changes nothing: the login form again ("expired", 400); sign-out
    back to the front page (the login without a session); the display link's question again (400), or for a
    browser with no person's session, the link itself (a GET signs a screen in)."""
    log.info("refused %s %s: %s", request.method, request.path, error.description)
    if request.endpoint == "auth.login":
        html = login_page.login_html(lang(), csrf=csrf.token(), target=_login_target(), problem="expired")
        return Response(html, 400)
    if request.endpoint == "auth.display":
        given = request.form.get("token")
        token = verify_display_token(resources().database, given)
        if token is None:
            return Response(login_page.revoked_html(lang()), status=401, mimetype="text/html")
        who = principal()
        if who is not None and who.kind == "account":
            return _display_confirm(who, token.name, given or "", 400)
        query = {"token": given or "", **({"lang": request.form["lang"]} if request.form.get("lang") else {})}
        return redirect(f"{DISPLAY_PATH}?{urlencode(query)}")  # type: ignore[return-value]
    if request.endpoint == "auth.logout" and principal() is None:
        return _to_login()
    return redirect("/")  # type: ignore[return-value]
