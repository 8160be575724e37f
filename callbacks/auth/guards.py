"""The guards on everything Dash runs: `guarded(permission)` around each callback, and `register_page(...,
permission=..., build=...)`, the one way a page is registered, which puts `guarded_layout(permission, build)` around
its layout. Each checks the role on the server; tests/test_auth.py walks app.callback_map and fails on a callback
without the guard, and the app factory refuses to start with a page whose layout lacks its own permission's guard
(`unguarded_pages`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, Literal, ParamSpec, TypeVar

import dash
from flask import Response, abort, jsonify

from callbacks import resources
from callbacks.auth.principal import SIGNED_IN, principal
from ioc.i18n import normalize_lang
from ioc.identity.roles import Permission
from layouts import login as login_page

P = ParamSpec("P")
R = TypeVar("R")

GUARD_ATTRIBUTE: Final = "__ioc_permission__"


def refusal(status: int) -> Response:
    """401 (no session) or 403 (another role) as a small JSON body: never any city data."""
    response = jsonify({"error": "login required" if status == 401 else "not allowed for this role"})
    response.status_code = status
    return response


def guarded(permission: Permission | Literal["signed-in"]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A callback that only a principal holding `permission` may run (SIGNED_IN: any principal with a session);
    others get 401 (no session) or 403 (another role), with no data."""

    def wrap(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            who = principal(permission)
            if who is None:
                abort(refusal(401))
            if permission != SIGNED_IN and not who.may(permission):
                abort(refusal(403))
            return function(*args, **kwargs)

        setattr(checked, GUARD_ATTRIBUTE, permission)
        return checked

    return wrap


def guarded_layout(permission: Permission, build: Callable[..., Any]) -> Callable[..., Any]:
    """A page layout function that renders only for a principal holding `permission` (others see a refusal and no
    data); marks the page's permission for the gate and the navigation."""

    @functools.wraps(build)
    def layout(**query: Any) -> Any:
        who = principal(permission)
        if who is None or not who.may(permission):
            lang = normalize_lang(query.get("lang"), resources().settings.language)  # the page's own query
            return login_page.forbidden_component(lang, who.name if who else None)
        return build(**query)

    setattr(layout, GUARD_ATTRIBUTE, permission)
    return layout


def register_page(
    module: str,
    *,
    path: str,
    name: str,
    permission: Permission,
    nav_label: str | None,
    build: Callable[..., Any],
) -> None:
    """Register a page with Dash Pages (call it from the page's module, as `register_page(__name__, ...)`): its layout
    is `build` behind the guard of `permission`, which the gate (a request for the page's address) and the navigation
    read from the registry too. `nav_label` is the i18n key of its name in the navigation (None: not listed there)."""
    if not isinstance(permission, Permission):
        raise TypeError(f"page {module}: its permission must be a Permission, not {permission!r}")
    dash.register_page(  # type: ignore[no-untyped-call]
        module,
        path=path,
        name=name,
        title="IOC",
        layout=guarded_layout(permission, build),
        permission=permission,
        nav_label=nav_label,
    )


def unguarded_pages() -> list[str]:
    """The modules of registered pages whose layout does not carry the guard of the page's own permission (a page
    registered other than by `register_page`); the app factory refuses to start with any."""
    return [
        str(page.get("module"))
        for page in dash.page_registry.values()
        if not isinstance(page.get("permission"), Permission)
        or getattr(page.get("layout"), GUARD_ATTRIBUTE, None) != page["permission"]
    ]
