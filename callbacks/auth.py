"""Who is asking, and may they: sessions (Flask-Login, signed cookies), the login, logout and display-token routes,
and the one guard every page and every callback goes through.

- A person signs in at /login; a wall screen opens /display?token=<secret> once and is signed in as that display
  token. Either way the session cookie holds only a principal id ("a:<account id>:<version>" or "d:<token id>"),
  checked against the database on every request: a disabled account, a changed role or password, or a revoked
  token ends the session at its next request.
- The gate (a before_request hook) answers every request without a session with 401 and no city data (the Dash
  endpoints) or a redirect to the login (pages; the address to come back to goes along, encoded, and `next` is
  only ever a path on this site); pages the principal's role may not open get 403. A wall screen whose display
  token was revoked gets "access revoked" (401) instead of a login form nobody is there to fill in.
- `guarded(permission)` wraps each callback: it checks the role on the server and aborts with 401/403 otherwise.
  tests/test_auth.py walks app.callback_map and fails on a callback without it.
"""

from __future__ import annotations

import functools
import hmac
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal, ParamSpec, TypeVar
from urllib.parse import urlencode

import dash
import redis
from flask import Flask, Response, abort, current_app, jsonify, redirect, request, session
from flask_login import LoginManager, current_user, login_user, logout_user
from itsdangerous import BadData, URLSafeSerializer

from callbacks import headers, resources, resources_of
from ioc.accounts import Account, LoginRefused, authenticate, get_account, record_logout
from ioc.errors import DatabaseError
from ioc.i18n import normalize_lang
from ioc.links import site_path
from ioc.proxies import TrustedProxies
from ioc.ratelimit import LoginLimiter, subject
from ioc.roles import Permission, Role, may
from ioc.secret_key import secret_key
from ioc.tokens import DisplayToken, list_display_tokens, verify_display_token
from layouts import login as login_page

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

LOGIN_PATH: Final = "/login"
LOGOUT_PATH: Final = "/logout"
DISPLAY_PATH: Final = "/display"
STATUS_PATH: Final = "/auth/status"
GUARD_ATTRIBUTE: Final = "__ioc_permission__"
SIGNED_IN: Final = "signed-in"  # a callback any principal with a session may call (e.g. the shell's own)
# Served to anyone: the login and its scripts' and styles' files, Dash's component bundles (code, no city data).
PUBLIC_PATHS: Final = frozenset({LOGIN_PATH, LOGOUT_PATH, DISPLAY_PATH, STATUS_PATH, "/favicon.ico", "/_favicon.ico"})
PUBLIC_PREFIXES: Final = ("/assets/", "/_dash-component-suites/")
DASH_DATA_PREFIX: Final = "/_dash-"  # layout, dependencies and callbacks: city data, so a session is needed
CSRF_KEY: Final = "csrf"
SESSION_PRINCIPAL_KEY: Final = "_user_id"  # where Flask-Login keeps the principal id in the session
DEGRADED_LOG_EVERY_S: Final = 60.0
DEGRADED_NOTE: Final = "ioc.auth.degraded"  # the app's note of when it last said it serves without the database
SESSION_ID_KEY: Final = "sid"  # a random id per sign-in, marked in Redis at sign-out (keys.ended_session)
DEVICE_COOKIE: Final = "ioc_device"  # a browser where these names signed in before (ioc.ratelimit's device cookies)
DEVICE_SALT: Final = "ioc-device"
DEVICE_MAX_NAMES: Final = 8
DEVICE_MAX_AGE_S: Final = 400 * 86_400  # the longest a browser keeps a cookie
SESSION_WHO_KEY: Final = "ioc_who"  # the principal as signed in (name, role), for when the database cannot answer


@dataclass(frozen=True)
class Principal:
    """Whoever holds a session: a person's account, or a wall screen's display token (role `display`)."""

    kind: Literal["account", "display"]
    ref: int
    name: str
    role: Role
    version: int = 0
    degraded: bool = False  # the database did not answer: known only from the signed session, may view the wall

    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        """The id kept in the session cookie; the version makes any change to the account end its sessions."""
        return f"a:{self.ref}:{self.version}" if self.kind == "account" else f"d:{self.ref}"

    def may(self, permission: Permission) -> bool:
        """Whether this principal's role holds the permission (while degraded, only viewing the wall)."""
        if self.degraded and permission != Permission.VIEW_WALL:
            return False
        return may(self.role, permission)

    @classmethod
    def of_account(cls, account: Account) -> Principal:
        """The principal of a signed-in account."""
        return cls("account", account.id, account.username, account.role, account.version)

    @classmethod
    def of_token(cls, token: DisplayToken) -> Principal:
        """The principal of a wall screen signed in with a display token."""
        return cls("display", token.id, token.name, Role.DISPLAY)


def principal() -> Principal | None:
    """The principal of the current request, or None without a (valid) session."""
    user = current_user
    return user if isinstance(user, Principal) else None


def _load_principal(principal_id: str) -> Principal | None:
    """Flask-Login's user loader: the session's principal if it still stands (account enabled and unchanged, token
    not revoked), else None, which ends the session."""
    if _session_ended():
        return None
    try:
        return _check_principal(principal_id)
    except DatabaseError as exc:
        return _degraded_principal(principal_id, exc)


def _degraded_principal(principal_id: str, exc: DatabaseError) -> Principal | None:
    """With the database down, the session's own record of who signed in (a signed cookie) lets a wall keep showing
    the city (read-only, VIEW_WALL) instead of going dark; nothing else is allowed until the database answers, and
    a revocation made meanwhile takes effect then."""
    who = session.get(SESSION_WHO_KEY)
    if not isinstance(who, dict) or who.get("id") != principal_id:
        return None
    note: dict[str, float] = current_app.extensions.setdefault(DEGRADED_NOTE, {"logged_at": -math.inf})
    now = time.monotonic()
    if now - note["logged_at"] >= DEGRADED_LOG_EVERY_S:
        note["logged_at"] = now
        log.warning("database unavailable (%s): signed-in sessions are served the wall only, read-only, from their "
                    "signed cookies until it answers", exc)  # fmt: skip
    kind: Literal["account", "display"] = "account" if principal_id.startswith("a:") else "display"
    try:
        ref = int(principal_id.split(":")[1])
        return Principal(kind, ref, str(who.get("name", "")), Role(str(who.get("role"))), degraded=True)
    except (ValueError, IndexError):
        return None


def _check_principal(principal_id: str) -> Principal | None:
    """The principal as the database has it now, or None if it no longer stands."""
    res = resources()
    kind, _, rest = principal_id.partition(":")
    try:
        if kind == "a":
            account_id, _, version = rest.partition(":")
            account = get_account(res.database, int(account_id))
            if account is None or account.disabled or str(account.version) != version:
                return None
            return Principal.of_account(account)
        if kind == "d":
            token_id = int(rest)
            token = next((t for t in list_display_tokens(res.database, include_revoked=False) if t.id == token_id),
                         None)  # fmt: skip
            return Principal.of_token(token) if token is not None else None
    except ValueError:
        return None
    return None


def install(app: dash.Dash) -> None:
    """Sessions, the gate and the auth routes on an app's server (the factory calls this once per app)."""
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
    manager.user_loader(_load_principal)
    manager.session_protection = "basic"
    manager.init_app(server)
    server.wsgi_app = TrustedProxies(server.wsgi_app, settings.trusted_proxy_networks)  # type: ignore[method-assign]
    headers.install(app, settings.tile_url)
    server.before_request(_gate)
    server.add_url_rule(LOGIN_PATH, "ioc_login", _login, methods=["GET", "POST"])
    # GET too, only to refuse it: Dash's catch-all page route would otherwise serve the app's page at /logout.
    server.add_url_rule(LOGOUT_PATH, "ioc_logout", _logout, methods=["GET", "POST"])
    server.add_url_rule(DISPLAY_PATH, "ioc_display", _display, methods=["GET", "POST"])
    server.add_url_rule(STATUS_PATH, "ioc_auth_status", _status, methods=["GET"])


def page_permission(path: str) -> Permission | None:
    """The permission a registered page needs (its `permission` in dash.register_page), None if no such page."""
    prefix = dash.get_app().config.requests_pathname_prefix.rstrip("/")  # type: ignore[no-untyped-call]
    wanted = path[len(prefix):] if prefix and path.startswith(prefix) else path
    for page in dash.page_registry.values():
        if page.get("path") == (wanted or "/"):
            permission = page.get("permission")
            return permission if isinstance(permission, Permission) else Permission.VIEW_WALL
    return None


def _gate() -> Response | None:
    """Before every request: public files pass; without a session the Dash endpoints answer 401 with no data and
    pages redirect to the login; a page the role may not open answers 403."""
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    who = principal()
    if path.startswith(DASH_DATA_PREFIX):
        if who is None:
            return _refuse(401)
        return None  # the callbacks check their own permission (guarded); the layout is the shell
    if who is None:
        if _revoked_display():
            return Response(login_page.revoked_html(_lang()), status=401, mimetype="text/html")
        return redirect(login_url(request.full_path, request.args.get("lang")))  # type: ignore[return-value]
    needed = page_permission(path)
    if needed is not None and who.degraded and needed != Permission.VIEW_WALL and may(who.role, needed):
        return Response(login_page.unavailable_html(_lang()), status=503, mimetype="text/html")
    if needed is not None and not who.may(needed):
        return Response(login_page.forbidden_html(_lang(), who.name), status=403, mimetype="text/html")
    return None


def _refuse(status: int) -> Response:
    """401 (no session) or 403 (another role) as a small JSON body: never any city data."""
    response = jsonify({"error": "login required" if status == 401 else "not allowed for this role"})
    response.status_code = status
    return response


def _revoked_display() -> bool:
    """Whether this request carries the session of a display token that no longer stands (revoked): its wall says
    "access revoked" instead of offering a login form to nobody."""
    kept = session.get(SESSION_PRINCIPAL_KEY)
    return isinstance(kept, str) and kept.startswith("d:") and principal() is None


def login_url(target: str | None, lang: str | None = None) -> str:
    """The login page's address taking the person back to `target` (a path on this site) afterwards."""
    query = {"next": _local(target)}
    if lang:
        query["lang"] = lang
    return f"{LOGIN_PATH}?{urlencode(query)}"


def guarded(permission: Permission | Literal["signed-in"]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A callback that only a principal holding `permission` may run (SIGNED_IN: any principal with a session);
    others get 401 (no session) or 403 (another role), with no data."""

    def wrap(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            who = principal()
            if who is None:
                abort(_refuse(401))
            if permission != SIGNED_IN and not who.may(permission):
                abort(_refuse(403))
            return function(*args, **kwargs)

        setattr(checked, GUARD_ATTRIBUTE, permission)
        return checked

    return wrap


def guarded_layout(permission: Permission, build: Callable[..., Any]) -> Callable[..., Any]:
    """A page layout function that renders only for a principal holding `permission` (others see a refusal and no
    data); marks the page's permission for the gate and the navigation."""

    @functools.wraps(build)
    def layout(**query: Any) -> Any:
        who = principal()
        if who is None or not who.may(permission):
            lang = normalize_lang(query.get("lang"), resources().settings.language)  # the page's own query
            return login_page.forbidden_component(lang, who.name if who else None)
        return build(**query)

    setattr(layout, GUARD_ATTRIBUTE, permission)
    return layout


# ---------------------------------------------------------------- routes


def _lang() -> str:
    return normalize_lang(request.args.get("lang") or request.form.get("lang"), resources().settings.language)


def _local(target: str | None) -> str:
    """A redirect target kept on this site (ioc.links.site_path), never the login page itself."""
    return site_path(target, refuse=(LOGIN_PATH,))


def csrf_token() -> str:
    """This session's token for forms that change something (sign out): made on first use."""
    return _csrf_token()


def _csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = session[CSRF_KEY] = secrets.token_urlsafe(24)
    return token


def _csrf_ok() -> bool:
    expected = session.get(CSRF_KEY)
    given = request.form.get(CSRF_KEY, "")
    return isinstance(expected, str) and hmac.compare_digest(expected, given)


def client_address() -> str | None:
    """The address of the request's client, for the audit log and the login limit: behind a trusted proxy
    (IOC_TRUSTED_PROXIES) the one it reports, else the peer's (ioc.proxies, installed on the server)."""
    return request.remote_addr


def acting_principal() -> Principal:
    """The principal of a guarded callback (guarded() let the call through, so there is one)."""
    who = principal()
    if who is None:
        raise RuntimeError("a guarded callback ran without a principal")
    return who


def _login() -> Response | str:
    """GET: the login form. POST: check the password (rate-limited, audited) and start a session."""
    lang = _lang()
    asked = request.args.get("next") or request.form.get("next")
    chosen = request.args.get("lang") or request.form.get("lang")
    target = _local(asked) if asked else (f"/?{urlencode({'lang': lang})}" if chosen else "/")
    if request.method == "GET":
        return login_page.login_html(lang, csrf=_csrf_token(), target=target)
    if not _csrf_ok():
        return Response(login_page.login_html(lang, csrf=_csrf_token(), target=target, problem="expired"), 400)
    res = resources()
    username = request.form.get("username", "")
    try:
        outcome = authenticate(res.database, LoginLimiter.from_settings(res.redis, res.settings), username,
                               request.form.get("password", ""), client_address(), _device_of(username))  # fmt: skip
    except (redis.RedisError, OSError, DatabaseError) as exc:
        log.error("login unavailable: %s", exc)
        html = login_page.login_html(lang, csrf=_csrf_token(), target=target, problem="unavailable", username=username)
        return Response(html, 503)
    if isinstance(outcome, LoginRefused):
        wait = int(outcome.retry_after_s + 0.999) if outcome.retry_after_s else None
        html = login_page.login_html(lang, csrf=_csrf_token(), target=target, problem=outcome.shown,
                                     username=username, retry_after_s=wait)  # fmt: skip
        if outcome.shown == "rate_limited":
            return Response(html, 429, headers={"Retry-After": str(wait or 1)})
        return Response(html, 401)
    start_session(Principal.of_account(outcome))
    response: Response = redirect(target)  # type: ignore[assignment]
    _remember_device(response, outcome.username)
    return response


def _device_signer() -> URLSafeSerializer:
    """Signs device cookies with the app's secret key (a salt of their own: never valid as a session)."""
    return URLSafeSerializer(current_app.secret_key or "", salt=DEVICE_SALT)


def _device_cookie() -> dict[str, Any] | None:
    """This browser's device cookie (signed with the app's key), or None."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or len(raw) > 4096:
        return None
    try:
        data = _device_signer().loads(raw)
    except BadData:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("names"), list):
        return None
    return data


def _device_of(username: str) -> str | None:
    """The id of this browser if `username` signed in here before (its login attempts then count on their own)."""
    data = _device_cookie()
    return data["id"] if data is not None and subject(username) in data["names"] else None


def _remember_device(response: Response, username: str) -> None:
    """Mark this browser as one where `username` signs in (the newest DEVICE_MAX_NAMES names are kept)."""
    data = _device_cookie() or {"id": secrets.token_urlsafe(16), "names": []}
    name = subject(username)
    names = [kept for kept in data["names"] if kept != name and isinstance(kept, str)][-(DEVICE_MAX_NAMES - 1):]
    value = _device_signer().dumps({"id": data["id"], "names": [*names, name]})
    response.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_MAX_AGE_S, path=LOGIN_PATH, httponly=True, samesite="Lax",
                        secure=resources().settings.cookie_secure)  # fmt: skip


def start_session(who: Principal) -> None:
    """Sign `who` in for the current request's browser: a fresh session (and CSRF token), renewed by every request
    until it idles out (IOC_SESSION_IDLE_MINUTES)."""
    session.clear()
    session.permanent = True
    # The CSRF token is made here, with the session: made later by whichever request came first, two requests at
    # once (the navigation's callback and the access watch) could each make one, and the cookie kept only one.
    session[CSRF_KEY] = secrets.token_urlsafe(24)
    session[SESSION_WHO_KEY] = {"id": who.get_id(), "name": who.name, "role": who.role.value}
    session[SESSION_ID_KEY] = secrets.token_urlsafe(16)
    login_user(who)


def _logout() -> Response:
    """End the session (audited); a form POST with the session's CSRF token, so no other site can sign one out
    (without it nothing changes and the browser goes back to the front page)."""
    if request.method != "POST":
        return Response("Sign out with the page's button (a POST).\n", 405, headers={"Allow": "POST"},
                        mimetype="text/plain")  # fmt: skip
    who = principal()
    if who is not None and not _csrf_ok():
        return redirect("/")  # type: ignore[return-value]
    if who is not None:
        if who.kind == "account":
            account = get_account(resources().database, who.ref)
            if account is not None:
                record_logout(resources().database, account, client_address())
        _end_session()
        logout_user()
        session.clear()
    return redirect(f"{LOGIN_PATH}?{urlencode({'lang': _lang()})}")  # type: ignore[return-value]


def _end_session() -> None:
    """Mark this session signed out in Redis: clearing the cookie is not enough, since a request still in flight
    (a wall tick) answers after the sign-out with the old cookie, and the browser would keep it."""
    session_id = session.get(SESSION_ID_KEY)
    if not isinstance(session_id, str):
        return
    res = resources()
    try:
        res.redis.set(res.keys.ended_session(session_id), "1", ex=int(res.settings.session_idle_minutes * 60) + 60)
    except (redis.RedisError, OSError) as exc:
        log.error("cannot mark a signed-out session in Redis (%s): a copy of its cookie stays valid until idle", exc)


def _session_ended() -> bool:
    """Whether this request's session was signed out (or predates session ids); Redis not answering: not known to
    have ended, so it is let through (the database check still applies)."""
    session_id = session.get(SESSION_ID_KEY)
    if not isinstance(session_id, str):
        return True
    res = resources()
    try:
        return bool(res.redis.exists(res.keys.ended_session(session_id)))
    except (redis.RedisError, OSError):
        return False


def _display() -> Response:
    """A wall screen opens its display-token URL once: signed in as that token, on to the kiosk wall. In a browser
    where a person is signed in, the link first asks (GET) and replaces that session only when the person confirms
    (POST with the session's CSRF token): a link must not quietly turn someone's desk into a wall."""
    given = request.form.get("token") if request.method == "POST" else request.args.get("token")
    token = verify_display_token(resources().database, given)
    if token is None:
        return Response(login_page.revoked_html(_lang()), status=401, mimetype="text/html")
    who = principal()
    if who is not None and who.kind == "account":
        if request.method == "GET" or not _csrf_ok():
            html = login_page.display_confirm_html(_lang(), name=who.name, wall=token.name, csrf=_csrf_token(),
                                                   token=given or "")  # fmt: skip
            return Response(html, status=200 if request.method == "GET" else 400, mimetype="text/html")
        account = get_account(resources().database, who.ref)
        if account is not None:
            record_logout(resources().database, account, client_address())
        _end_session()
        logout_user()
    start_session(Principal.of_token(token))
    lang = request.values.get("lang")
    return redirect(f"/?{urlencode({'lang': lang})}" if lang else "/")  # type: ignore[return-value]


def _status() -> Response:
    """Whether this browser still has a session (the page's access watch polls it): 200 with who, or 401."""
    who = principal()
    if who is None:
        if not _revoked_display():
            return _refuse(401)
        response = jsonify({"error": "access revoked", "kind": "display"})
        response.status_code = 401
        return response
    return jsonify({"name": who.name, "role": who.role.value, "kind": who.kind})
