"""Drive a Dash page the way a browser's Dash renderer does, over HTTP: no browser needed.

`BrowserPage(app, "/", "?lang=vi", token=secret)` signs in (as a wall screen with its display token, or as a person
with `user=(name, password)` through the login form), loads the shell, asks the pages router for the page, as the
renderer does when it starts, and keeps every property of every component it has seen. `set(id, prop, value)`
changes a property and posts every server callback that takes it as an Input, with the body the renderer sends
(outputs, wildcard outputs expanded to the matching components in page order, inputs and states with their current
values); each response's values are kept, so the next request carries them back, as a browser's dcc.Store does.
Clientside callbacks are not run, and a response does not trigger further callbacks.

The HTTP side is a `Http`: an app's Flask test client (`AppHttp`, given a Dash app) or a real server through urllib
with a cookie jar (`UrlHttp`, given a base URL); either keeps its session cookie like a browser, and neither follows
redirects, so callers see them.

Used by the benchmarks (bytes per wall tick) and by the tests that post ticks and callbacks over HTTP.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any, Protocol
from urllib.parse import urlencode

from dash import Dash

ROUTER_LOCATION = "_pages_location"  # Dash Pages' dcc.Location: its pathname and search choose the page
ROUTER_CONTENT = "_pages_content"
WILDCARD = ["ALL"]
LOGIN_PATH = "/login"
DISPLAY_PATH = "/display"
UPDATE_PATH = "/_dash-update-component"
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass(frozen=True)
class HttpReply:
    """One HTTP response: status, body bytes and headers (names in lower case)."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def location(self) -> str | None:
        """Where a redirect points, if it is one."""
        return self.headers.get("location")

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class Http(Protocol):
    """A browser's side of HTTP: one cookie jar, requests to paths of one site, redirects not followed."""

    def request(
        self, method: str, path: str, *, json_body: Any = None, form: Mapping[str, str] | None = None
    ) -> HttpReply:
        """Send one request (a JSON body or a form) and return the response."""
        ...


class AppHttp:
    """HTTP to an app in this process, through its Flask test client (which keeps cookies)."""

    def __init__(self, app: Dash) -> None:
        self.client = app.server.test_client()

    def request(
        self, method: str, path: str, *, json_body: Any = None, form: Mapping[str, str] | None = None
    ) -> HttpReply:
        """Send one request through the test client."""
        if json_body is not None:
            response = self.client.open(path, method=method, json=json_body)
        else:
            response = self.client.open(path, method=method, data=dict(form) if form is not None else None)
        headers = {name.lower(): value for name, value in response.headers.items()}
        return HttpReply(response.status_code, response.get_data(), headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # the 3xx reaches the caller as an HTTPError, which we turn into a reply


class UrlHttp:
    """HTTP to a real server at `base_url` (e.g. gunicorn in a test), with a cookie jar of its own."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, headers: Mapping[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})  # sent with every request (e.g. X-Forwarded-For, as a proxy would)
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect())

    def request(
        self, method: str, path: str, *, json_body: Any = None, form: Mapping[str, str] | None = None
    ) -> HttpReply:
        """Send one request over a new connection."""
        data: bytes | None = None
        headers = dict(self.headers)
        if json_body is not None:
            data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            data, headers["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return HttpReply(response.status, response.read(), _headers(response.headers))
        except urllib.error.HTTPError as error:
            with error:
                return HttpReply(error.code, error.read(), _headers(error.headers))


def _headers(message: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in message.items()}


def _http(target: Dash | str | Http) -> Http:
    if isinstance(target, Dash):
        return AppHttp(target)
    if isinstance(target, str):
        return UrlHttp(target)
    return target


# ---------------------------------------------------------------- signing in, as a browser does


def login_form(http: Http, lang: str | None = None) -> str:
    """Open the login page (which starts an anonymous session) and return the form's CSRF token."""
    reply = http.request("GET", LOGIN_PATH + (f"?{urlencode({'lang': lang})}" if lang else ""))
    found = _CSRF_FIELD.search(reply.text)
    if reply.status != 200 or found is None:
        raise RuntimeError(f"the login page answered HTTP {reply.status} without its form")
    return found.group(1)


def post_login(
    http: Http, username: str, password: str, *, csrf: str, next_path: str | None = None, lang: str | None = None
) -> HttpReply:
    """Submit the login form once (a redirect on success; the form again with its problem otherwise)."""
    form = {"csrf": csrf, "username": username, "password": password}
    if next_path is not None:
        form["next"] = next_path
    if lang is not None:
        form["lang"] = lang
    return http.request("POST", LOGIN_PATH, form=form)


def sign_in(http: Http, username: str, password: str) -> None:
    """Sign in as a person through the login form; RuntimeError when refused."""
    reply = post_login(http, username, password, csrf=login_form(http))
    if reply.status != 302:
        raise RuntimeError(f"signing in as {username!r} answered HTTP {reply.status}")


def sign_in_with_token(http: Http, token: str) -> None:
    """Sign in as a wall screen, opening its display-token address; RuntimeError when refused."""
    reply = http.request("GET", f"{DISPLAY_PATH}?{urlencode({'token': token})}")
    if reply.status != 302:
        raise RuntimeError(f"the display token was refused: HTTP {reply.status}")


# ---------------------------------------------------------------- the page


def id_key(component_id: str | Mapping[str, Any]) -> str:
    """A component id as Dash writes it in dependencies and responses (a dict id: JSON with sorted keys)."""
    if isinstance(component_id, str):
        return component_id
    return "{" + ",".join(f"{json.dumps(k)}:{json.dumps(component_id[k])}" for k in sorted(component_id)) + "}"


def components(node: Any) -> Iterator[dict[str, Any]]:
    """Every component in a layout as JSON (as Dash sends it), in document order."""
    if isinstance(node, list):
        for item in node:
            yield from components(item)
    elif isinstance(node, dict):
        if "type" in node and "namespace" in node and isinstance(node.get("props"), dict):
            yield node
            for value in node["props"].values():
                yield from components(value)
        else:
            for value in node.values():
                yield from components(value)


def prop_ids(spec: str) -> list[tuple[str, str]]:
    """The (id, property) pairs of a dependency's output string: "a.b" or "..a.b...c.d..", ids as written."""
    parts = spec[2:-2].split("...") if spec.startswith("..") else [spec]
    return [(part.rpartition(".")[0], part.rpartition(".")[2]) for part in parts]


@dataclass(frozen=True)
class Reply:
    """One callback response: HTTP status, the body's size in bytes, and the new property values it set."""

    status: int
    size: int
    body: bytes
    values: dict[str, dict[str, Any]]


class BrowserPage:
    """One browser tab showing one page of an app (see the module's docstring).

    `target` is a Dash app (its test client), a base URL, or an `Http` already signed in; `token` or `user` sign
    in first."""

    def __init__(
        self,
        target: Dash | str | Http,
        path: str = "/",
        search: str = "",
        *,
        token: str | None = None,
        user: tuple[str, str] | None = None,
    ) -> None:
        self.http = _http(target)
        if token is not None:
            sign_in_with_token(self.http, token)
        if user is not None:
            sign_in(self.http, *user)
        # Dash merges the callbacks of `dash.callback` and sets up the pages router on the first request.
        shell = self._get("/_dash-layout")
        self.dependencies: list[dict[str, Any]] = self._get("/_dash-dependencies")
        self.props: dict[tuple[str, str], Any] = {}
        self.ids: list[str | dict[str, Any]] = []
        self._see(shell)
        self.props[(ROUTER_LOCATION, "pathname")] = path
        self.props[(ROUTER_LOCATION, "search")] = search
        # The pages router answers with the page; the shell's navigation takes the location too.
        replies = self.fire([(ROUTER_LOCATION, "pathname"), (ROUTER_LOCATION, "search")])
        routed = [reply for reply in replies if ROUTER_CONTENT in reply.values]
        if len(routed) != 1:
            raise RuntimeError(f"the pages router did not answer for {path}{search}: {replies}")
        self.page = routed[0].values[ROUTER_CONTENT]["children"]
        self._see(self.page)

    def _get(self, path: str) -> Any:
        reply = self.http.request("GET", path)
        if reply.status != 200:
            raise RuntimeError(f"{path} answered HTTP {reply.status}")
        return reply.json()

    def _see(self, layout: Any) -> None:
        """Remember the ids and properties of every component of a layout the page now shows."""
        for component in components(layout):
            component_id = component["props"].get("id")
            if component_id is None:
                continue
            self.ids.append(component_id)
            for prop, value in component["props"].items():
                self.props[(id_key(component_id), prop)] = value

    def _matches(self, pattern: str) -> list[str | dict[str, Any]]:
        """The ids a dependency's id stands for: itself, or every component matching a wildcard pattern."""
        if not pattern.startswith("{"):
            return [pattern]
        wanted = json.loads(pattern)
        if any(isinstance(v, list) and v != WILDCARD for v in wanted.values()):
            raise NotImplementedError(f"only ALL wildcards are supported: {pattern}")
        return [
            i
            for i in self.ids
            if isinstance(i, dict) and set(i) == set(wanted) and all(v in (i[k], WILDCARD) for k, v in wanted.items())
        ]

    def _item(self, pattern: str, prop: str, *, value: bool) -> Any:
        """A dependency as the renderer sends it: {id, property[, value]}, or a list of them for a wildcard."""
        items = [
            {"id": i, "property": prop, **({"value": self.props.get((id_key(i), prop))} if value else {})}
            for i in self._matches(pattern)
        ]
        return items if pattern.startswith("{") else items[0]

    def knows(self, component_id: str) -> bool:
        """Whether this page shows a component with that id (a dependency's id as written; wildcards match any)."""
        return bool(self._matches(component_id)) and (
            component_id.startswith("{") or any(id_key(i) == component_id for i in self.ids)
        )

    @staticmethod
    def inputs_of(dependency: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The (id, property) pairs a dependency takes as inputs, ids as written."""
        return [(i["id"] if isinstance(i["id"], str) else id_key(i["id"]), i["property"]) for i in dependency["inputs"]]

    def body(self, dependency: Mapping[str, Any], changed: list[tuple[str, str]]) -> dict[str, Any]:
        """The request body the renderer posts for this callback, with the page's current values."""
        inputs = self.inputs_of(dependency)
        return {
            "output": dependency["output"],
            "outputs": [self._item(i, p, value=False) for i, p in prop_ids(dependency["output"])],
            "inputs": [self._item(i, p, value=True) for i, p in inputs],
            "state": [self._item(id_key(s["id"]), s["property"], value=True) for s in dependency["state"]],
            "changedPropIds": [f"{i}.{p}" for i, p in changed if (i, p) in inputs],
        }

    def set(self, component_id: str, prop: str, value: Any) -> list[Reply]:
        """Change one property, as a component in the browser does, and post the server callbacks it triggers."""
        self.props[(id_key(component_id), prop)] = value
        return self.fire([(id_key(component_id), prop)])

    def fire(self, changed: list[tuple[str, str]]) -> list[Reply]:
        """Post every server callback with one of these (id, property) pairs among its inputs, in Dash's order."""
        replies = []
        for dependency in self.dependencies:
            if dependency.get("clientside_function") is not None:
                continue
            if not set(self.inputs_of(dependency)) & set(changed):
                continue
            response = self.http.request("POST", UPDATE_PATH, json_body=self.body(dependency, changed))
            values: dict[str, dict[str, Any]] = {}
            if response.status == 200:
                values = response.json().get("response", {})
                for component_id, props in values.items():
                    for prop, new in props.items():
                        self.props[(component_id, prop)] = new
            elif response.status != 204:  # 204: nothing to update
                raise RuntimeError(
                    f"{dependency['output'][:80]} answered HTTP {response.status}: {response.body[:300]!r}"
                )
            replies.append(Reply(response.status, len(response.body), response.body, values))
        return replies
