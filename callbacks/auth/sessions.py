"""A session's life: started at sign-in (a fresh session with its own random id, CSRF token and start time), ended
by idling (the cookie's lifetime, renewed by each request), by its absolute lifetime (a person's session only:
IOC_SESSION_MAX_HOURS; a wall screen's display-token session lasts until the token is revoked), or by signing out,
which marks its id ended in Redis so that a copy of the cookie is refused too."""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING, Final

import redis
from flask import session
from flask_login import login_user, logout_user

from callbacks import resources
from callbacks.auth import csrf

if TYPE_CHECKING:
    from callbacks.auth.principal import Principal

log = logging.getLogger(__name__)

PRINCIPAL_KEY: Final = "_user_id"  # where Flask-Login keeps the principal id in the session
ID_KEY: Final = "sid"  # a random id per sign-in, marked in Redis at sign-out (keys.ended_session)
WHO_KEY: Final = "ioc_who"  # the principal as signed in (name, role), for when the database cannot answer
STARTED_KEY: Final = "ioc_started"  # when the person signed in (Unix time), for the absolute lifetime


def start(who: Principal) -> None:
    """Sign `who` in for the current request's browser: a fresh session (and CSRF token), renewed by every request
    until it idles out (IOC_SESSION_IDLE_MINUTES) or, for a person, reaches IOC_SESSION_MAX_HOURS."""
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
    session_id = session.get(ID_KEY)
    if isinstance(session_id, str):
        res = resources()
        try:
            res.redis.set(res.keys.ended_session(session_id), "1", ex=int(res.settings.session_idle_minutes * 60) + 60)
        except (redis.RedisError, OSError) as exc:
            log.error(
                "cannot mark a signed-out session in Redis (%s): a copy of its cookie stays valid until idle", exc
            )
    logout_user()
    session.clear()


def ended() -> bool:
    """Whether this request's session was signed out (or predates session ids); Redis not answering: not known to
    have ended, so it is let through (the database check still applies)."""
    session_id = session.get(ID_KEY)
    if not isinstance(session_id, str):
        return True
    res = resources()
    try:
        return bool(res.redis.exists(res.keys.ended_session(session_id)))
    except (redis.RedisError, OSError):
        return False


def expired() -> bool:
    """Whether this person's session is past its absolute lifetime (IOC_SESSION_MAX_HOURS from its sign-in), however
    busy it was; a session without a start time predates the limit and is ended too."""
    started = session.get(STARTED_KEY)
    if not isinstance(started, int):
        return True
    return time.time() - started >= resources().settings.session_max_hours * 3600
