"""Bad input answered at one place, with a short reason and no traceback: a callback request whose body is not one
(not UTF-8, not JSON, nested too deep, not shaped as Dash's renderer sends it, naming no callback of the app, or
giving Dash's pages router an address no browser has) gets 400 before Dash reads it; a value a callback refuses by
raising InvalidInput (ioc.inputs' rule) gets 400; a request whose outputs do not match what its callback answers gets
400 too; a path under Dash's bundles that names no bundle gets 404. Each is logged as one line.

Registered after the auth gate (callbacks.auth.install), so a request without a session is refused (401) first.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Final

import dash
from dash.exceptions import DependencyException, InvalidCallbackReturnValue
from flask import Flask, Response, jsonify, request

from ioc.errors import InvalidInput
from ioc.inputs import text_problem

log = logging.getLogger(__name__)

UPDATE_PATH: Final = "/_dash-update-component"
MAX_DEPTH: Final = 64  # nesting of a callback request (ids, values); Dash's own requests here stay under 10
_STRINGS: Final = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS: Final = re.compile(r"[\[\]{}]")
# The address bar as Dash's pages router takes it (its own callback, which assumes texts and a path from "/").
LOCATION: Final = "_pages_location"
LOCATION_TEXTS: Final = frozenset({"pathname", "search", "hash", "href"})


def install(app: dash.Dash) -> None:
    """The body check and the error handlers on an app's server (the factory calls this once per app)."""
    server: Flask = app.server
    server.before_request(lambda: _check_callback_request(app))
    server.register_error_handler(InvalidInput, _invalid_input)
    server.register_error_handler(DependencyException, _no_such_bundle)
    server.register_error_handler(InvalidCallbackReturnValue, _outputs_not_asked)


def bad_request(reason: str, status: int = 400) -> Response:
    """A short JSON refusal, logged as one line (no traceback, no body: it may hold anything)."""
    log.info("refused %s %s with %d: %s", request.method, request.path, status, reason)
    response = jsonify({"error": reason})
    response.status_code = status
    return response


def _depth(text: str) -> int:
    """How deeply a JSON text nests (arrays and objects), counted without parsing it."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub('""', text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _is_dependency(item: Any) -> bool:
    """Whether an item is {id, property[, value]} as the renderer sends one (no value: undefined in the browser),
    or a wildcard's list of them."""
    if isinstance(item, list):
        return all(isinstance(one, dict) and _is_dependency(one) for one in item)
    return isinstance(item, dict) and isinstance(item.get("id"), str | dict) and isinstance(item.get("property"), str)


def problem_of(body: Any, callbacks: dict[str, Any]) -> str:
    """Why a parsed body is not a callback request of this app ("" if it is one)."""
    if not isinstance(body, dict):
        return f"the body must be a JSON object, not {type(body).__name__}"
    output = body.get("output")
    if not isinstance(output, str) or output not in callbacks:
        return "'output' names no callback of this app"
    if not isinstance(body.get("outputs"), dict | list):
        return "'outputs' must be an object or a list"
    for part in ("inputs", "state"):
        items = body.get(part, [])
        if not isinstance(items, list) or not all(_is_dependency(i) for i in items):
            return f"'{part}' must be a list of {{id, property, value}}"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "'changedPropIds' must be a list of texts"
    for item in (*body.get("inputs", []), *body.get("state", [])):
        if isinstance(item, dict) and item["id"] == LOCATION and item["property"] in LOCATION_TEXTS:
            problem = _location_problem(item["property"], item.get("value"))
            if problem:
                return f"{item['id']}.{item['property']}: {problem}"
    return ""


def _location_problem(prop: str, value: Any) -> str:
    """Why a value is not what a browser's address bar gives Dash's pages router ("" if it is one): the router
    takes a path and a query as texts, a path starting with "/"."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return f"must be a text, not {type(value).__name__}"
    if prop == "pathname" and not value.startswith("/"):
        return "must start with '/'"
    return text_problem(value, multiline=False)


def _check_callback_request(app: dash.Dash) -> Response | None:
    """Before Dash dispatches a callback: the body must be UTF-8 JSON, nested at most MAX_DEPTH deep, shaped as a
    callback request naming one of the app's callbacks; else 400 with the reason."""
    if request.method != "POST" or request.path != app.config.requests_pathname_prefix.rstrip("/") + UPDATE_PATH:
        return None
    try:
        text = request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        return bad_request("the body is not UTF-8")
    if _depth(text) > MAX_DEPTH:
        return bad_request(f"the body nests deeper than {MAX_DEPTH} levels")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return bad_request("the body is not JSON")
    problem = problem_of(body, app.callback_map)
    return bad_request(problem) if problem else None


def _invalid_input(error: InvalidInput) -> Response:
    """A value a callback (or the core it called) refused: 400 with the rule's words."""
    return bad_request(str(error))


def _outputs_not_asked(error: InvalidCallbackReturnValue) -> Response:
    """The request's outputs do not match what the callback answers (a wildcard output listing other components
    than the page has): a forged or stale request. 400, its first line logged as a warning (a callback of ours
    answering the wrong shape to a real page would show here too)."""
    log.warning("callback answer does not match the outputs asked: %s", str(error).strip().splitlines()[0][:200])
    return bad_request("the outputs asked do not match the callback's")


def _no_such_bundle(_error: DependencyException) -> Response:
    """Dash's bundles serve only registered files: any other path (../../webapp.py) is not found. Not to be cached:
    Dash's set-up race (app_factory.warm_up) refuses real bundles this way too, and a kiosk must not keep that."""
    response = bad_request("no such file", 404)
    response.headers["Cache-Control"] = "no-store"
    return response
