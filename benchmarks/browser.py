"""Drive a Dash page the way a browser's Dash renderer does, through Flask's test client: no browser needed.

`BrowserPage(app, "/", "?lang=vi")` loads the shell, asks the pages router for the page, as the renderer does when
it starts, and keeps every property of every component it has seen. `set(id, prop, value)` changes a property and
posts every server callback that takes it as an Input, with the body the renderer sends (outputs, wildcard outputs
expanded to the matching components in page order, inputs and states with their current values); each response's
values are kept, so the next request carries them back, as a browser's dcc.Store does. Clientside callbacks are not
run, and a response does not trigger further callbacks.

Used by the benchmarks (bytes per wall tick) and by the tests that post ticks over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dash import Dash

ROUTER_LOCATION = "_pages_location"  # Dash Pages' dcc.Location: its pathname and search choose the page
WILDCARD = ["ALL"]


def id_key(component_id: str | Mapping[str, Any]) -> str:
    """A component id as Dash writes it in dependencies and responses (a dict id: JSON with sorted keys)."""
    if isinstance(component_id, str):
        return component_id
    return "{" + ",".join(f"{json.dumps(k)}:{json.dumps(component_id[k])}" for k in sorted(component_id)) + "}"


def _components(node: Any) -> Iterator[dict[str, Any]]:
    """Every component in a layout as JSON (as Dash sends it), in document order."""
    if isinstance(node, list):
        for item in node:
            yield from _components(item)
    elif isinstance(node, dict):
        if "type" in node and "namespace" in node and isinstance(node.get("props"), dict):
            yield node
            for value in node["props"].values():
                yield from _components(value)
        else:
            for value in node.values():
                yield from _components(value)


def _prop_ids(spec: str) -> list[tuple[str, str]]:
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
    """One browser tab showing one page of `app` (see the module's docstring)."""

    def __init__(self, app: Dash, path: str = "/", search: str = "") -> None:
        self.http = app.server.test_client()
        # Dash merges the callbacks of `dash.callback` and sets up the pages router on the first request.
        shell = self._get(self.http.get("/_dash-layout"))
        self.dependencies: list[dict[str, Any]] = self._get(self.http.get("/_dash-dependencies"))
        self.props: dict[tuple[str, str], Any] = {}
        self.ids: list[str | dict[str, Any]] = []
        self._see(shell)
        self.props[(ROUTER_LOCATION, "pathname")] = path
        self.props[(ROUTER_LOCATION, "search")] = search
        replies = self.fire([(ROUTER_LOCATION, "pathname"), (ROUTER_LOCATION, "search")])
        if not replies or replies[0].status != 200:
            raise RuntimeError(f"the pages router did not answer for {path}{search}: {replies}")
        self.page = replies[0].values["_pages_content"]["children"]
        self._see(self.page)

    @staticmethod
    def _get(response: Any) -> Any:
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.path} answered HTTP {response.status_code}")
        return response.get_json()

    def _see(self, layout: Any) -> None:
        """Remember the ids and properties of every component of a layout the page now shows."""
        for component in _components(layout):
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
            i for i in self.ids
            if isinstance(i, dict) and set(i) == set(wanted) and all(v in (i[k], WILDCARD) for k, v in wanted.items())
        ]  # fmt: skip

    def _item(self, pattern: str, prop: str, *, value: bool) -> Any:
        """A dependency as the renderer sends it: {id, property[, value]}, or a list of them for a wildcard."""
        items = [
            {"id": i, "property": prop, **({"value": self.props.get((id_key(i), prop))} if value else {})}
            for i in self._matches(pattern)
        ]
        return items if pattern.startswith("{") else items[0]

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
            inputs = [(i["id"] if isinstance(i["id"], str) else id_key(i["id"]), i["property"])
                      for i in dependency["inputs"]]  # fmt: skip
            if not set(inputs) & set(changed):
                continue
            body = {
                "output": dependency["output"],
                "outputs": [self._item(i, p, value=False) for i, p in _prop_ids(dependency["output"])],
                "inputs": [self._item(i, p, value=True) for i, p in inputs],
                "state": [self._item(id_key(s["id"]), s["property"], value=True) for s in dependency["state"]],
                "changedPropIds": [f"{i}.{p}" for i, p in changed if (i, p) in inputs],
            }
            response = self.http.post("/_dash-update-component", json=body)
            values: dict[str, dict[str, Any]] = {}
            if response.status_code == 200:
                values = response.get_json().get("response", {})
                for component_id, props in values.items():
                    for prop, new in props.items():
                        self.props[(component_id, prop)] = new
            elif response.status_code != 204:  # 204: nothing to update
                raise RuntimeError(f"{dependency['output'][:80]} answered HTTP {response.status_code}: "
                                   f"{response.get_data()[:300]!r}")  # fmt: skip
            replies.append(Reply(response.status_code, len(response.get_data()), response.get_data(), values))
        return replies
