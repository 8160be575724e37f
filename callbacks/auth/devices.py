"""Device cookies for the login limit: a signed cookie naming the user names that signed in from this browser before,
so a name's failures there count on their own (ioc.identity.ratelimit) and someone failing on purpose with another
person's name, even from the same office address, cannot lock that person out of their own browser."""

from __future__ import annotations

import secrets
from typing import Any, Final

from flask import Response, current_app, request
from itsdangerous import BadData, URLSafeSerializer

from ioc.identity.ratelimit import subject

COOKIE: Final = "ioc_device"
SALT: Final = "ioc-device"
MAX_NAMES: Final = 8
MAX_AGE_S: Final = 400 * 86_400  # the longest a browser keeps a cookie
MAX_LENGTH: Final = 4096


def _signer() -> URLSafeSerializer:
    """Signs device cookies with the app's secret key (a salt of their own: never valid as a session)."""
    return URLSafeSerializer(current_app.secret_key or "", salt=SALT)


def _cookie() -> dict[str, Any] | None:
    """This browser's device cookie (signed with the app's key), or None."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > MAX_LENGTH:
        return None
    try:
        data = _signer().loads(raw)
    except BadData:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("names"), list):
        return None
    return data


def device_of(username: str) -> str | None:
    """The id of this browser if `username` signed in here before (its login attempts then count on their own)."""
    data = _cookie()
    return data["id"] if data is not None and subject(username) in data["names"] else None


def remember(response: Response, username: str, *, path: str, secure: bool) -> None:
    """Mark this browser as one where `username` signs in (the newest MAX_NAMES names are kept); the cookie goes to
    `path` (the login) only."""
    data = _cookie() or {"id": secrets.token_urlsafe(16), "names": []}
    name = subject(username)
    names = [kept for kept in data["names"] if kept != name and isinstance(kept, str)][-(MAX_NAMES - 1) :]
    value = _signer().dumps({"id": data["id"], "names": [*names, name]})
    response.set_cookie(COOKIE, value, max_age=MAX_AGE_S, path=path, httponly=True, samesite="Lax", secure=secure)
