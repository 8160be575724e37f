"""A session's life: started at sign-in (a fresh session with its own random id, CSRF token and start time), ended
by idling (the cookie's lifetime, renewed by each request), by its absolute lifetime (a person's session only:
IOC_SESSION_MAX_HOURS; a wall screen's display-token session lasts until the token is revoked), or by signing out,
which marks its id ended in Redis so that a copy of the cookie is refused too.

`SessionServer` is the app's Flask server: the key signing its cookies, the session cookie's Secure flag and the idle
lifetime are read from the resources attached to it (callbacks.attach) each time they are used, never copied into
its config when the app is built.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Final

import redis
from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import login_user, logout_user

from callbacks import resources, resources_of
from callbacks.auth import csrf

if TYPE_CHECKING:
    from callbacks.auth.principal import Principal

log = logging.getLogger(__name__)

PRINCIPAL_KEY: Final = "_user_id"  # where Flask-Login keeps the principal id in the session
ID_KEY: Final = "sid"  # a random id per sign-in, marked in Redis at sign-out (keys.ended_session)
WHO_KEY: Final = "ioc_who"  # the principal as signed in (name, role), for when the database cannot answer
STARTED_KEY: Final = "ioc_started"  # when the person signed in (Unix time), for the absolute lifetime


class _Cookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, Secure or not as IOC_COOKIE_SECURE of the resources attached says."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """Whether the session cookie is sent over HTTPS only (IOC_COOKIE_SECURE)."""
        return resources_of(app).settings.cookie_secure


class SessionServer(Flask):
    """The app's Flask server. Its session settings are the attached resources' own, read at each use: the key
    signing the session, CSRF and device cookies (Flask-WTF and the device cookies read `secret_key` as well), the
    idle lifetime (IOC_SESSION_IDLE_MINUTES, renewed by each request) and the cookie's Secure flag."""

    session_interface = _Cookies()

    @property
    def secret_key(self) -> bytes:
        """The key signing cookies: IOC_SECRET_KEY, else the one kept in IOC_DATA_DIR (callbacks.Resources)."""
        return resources_of(self).secret_key

    @secret_key.setter
    def secret_key(self, _value: object) -> None:
        raise AttributeError("the session key is the attached resources' (IOC_SECRET_KEY or IOC_DATA_DIR/secret_key)")

    @property
    def permanent_session_lifetime(self) -> timedelta:
        """How long an unused session lasts (IOC_SESSION_IDLE_MINUTES)."""
        return timedelta(minutes=resources_of(self).settings.session_idle_minutes)

    @permanent_session_lifetime.setter
    def permanent_session_lifetime(self, _value: object) -> None:
        raise AttributeError("the idle lifetime is the attached resources' (IOC_SESSION_IDLE_MINUTES)")


def start(who: Principal) -> None:
    """Sign `who` in for the current request's browser: a fresh session (and CSRF token), renewed by every request
    until it idles out (IOC_SESSION_IDLE_MINUTES) or, for a person, reaches IOC_SESSION_MAX_HOURS. A session this
    browser already had (another person signing in at the same desk) is ended first, as at sign-out: a tick of the
    previous person's page still in flight would otherwise put that person's cookie back, and the new person would
    act under the old name."""
    _mark_ended()
    session.clear()
    session.permanent = True
    # The CSRF token is made here, with the session: made later by whichever request came first, two requests at
    # once (the navigation's callback and the access watch) could each make one, and the cookie kept only one.
    csrf.renew()
    session[WHO_KEY] = {"id": who.get_id(), "name": who.name, "role": who.role.value}
    session[ID_KEY] = secrets.token_urlsafe(16)
    session[STARTED_KEY] = int(time.time())
    login_user(who)


def end() -> None:
    """Sign the current session out: marked ended in Redis (clearing the cookie is not enough, since a request
    still in flight, such as a wall tick, answers after the sign-out with the old cookie and the browser would keep
    it), then cleared."""
    _mark_ended()
    logout_user()
    session.clear()


def _mark_ended() -> None:
    """Mark the current session's id ended in Redis, so that no copy of its cookie is let in again (kept a little
    longer than the cookie could idle)."""
    session_id = session.get(ID_KEY)
    if not isinstance(session_id, str):
        return
    res = resources()
    try:
        res.redis.set(res.keys.ended_session(session_id), "1", ex=int(res.settings.session_idle_minutes * 60) + 60)
    except (redis.RedisError, OSError) as exc:
        log.error("cannot mark an ended session in Redis (%s): a copy of its cookie stays valid until idle", exc)


def marks() -> tuple[bool, str | None]:
    """In one Redis round trip (one MGET: both keys share the auth hash slot): whether this request's session was
    signed out (or predates session ids), and the identity version (ioc.identity.changes) its principal is checked
    under. Redis not answering: not known to have ended, so it is let through (the database check still applies,
    uncached: the version is None)."""
    session_id = session.get(ID_KEY)
    if not isinstance(session_id, str):
        return True, None
    res = resources()
    try:
        ended, version = res.redis.mget([res.keys.ended_session(session_id), res.keys.identity_version()])
    except (redis.RedisError, OSError):
        return False, None
    return ended is not None, "0" if version is None else str(version)


def expired() -> bool:
    """Whether this person's session is past its absolute lifetime (IOC_SESSION_MAX_HOURS from its sign-in), however
    busy it was; a session without a start time predates the limit and is ended too."""
    started = session.get(STARTED_KEY)
    if not isinstance(started, int):
        return True
    return time.time() - started >= resources().settings.session_max_hours * 3600
