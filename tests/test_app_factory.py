"""The app factory: one app per process with every page registered and wrapped in the shell and every page's
callbacks, other settings served by attaching their resources, the page HTML's inline scripts, ids defined once with
their page's prefix, and a layout that stays pure."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import dash
import pytest
from dash.development.base_component import Component

import app_factory
from callbacks import resources_of
from ioc.settings import Settings
from layouts import shell
from layouts.wall import ids as wall_ids
from layouts.wall.page import PATH as WALL_PATH
from tests.sessions import display_http, operator_http

ROOT = Path(__file__).resolve().parent.parent


def walk(node: object) -> list[Any]:
    """Every component of a tree."""
    if isinstance(node, list | tuple):
        return [c for item in node for c in walk(item)]
    if isinstance(node, Component):
        return [node, *walk(getattr(node, "children", None))]
    return []


def registers_itself(source: str) -> bool:
    """Whether a module's source calls register_page(__name__, ...) (callbacks.auth's: the page guarded)."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "register_page"
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "__name__"
        ):
            return True
    return False


def test_every_page_registers_itself_where_the_factory_lists_it(make_app) -> None:
    make_app()
    registered = {page["module"]: page["path"] for page in dash.page_registry.values()}
    assert set(app_factory.PAGES) <= set(registered)
    assert registered["callbacks.wall.page"] == WALL_PATH == "/"
    for module in app_factory.PAGES:  # each registers itself in its own module, with callbacks.auth.register_page
        source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
        assert registers_itself(source), module
    assert not registers_itself("register_page('elsewhere', path='/x')")
    assert not registers_itself("dash.register_page(__name__, path='/x')")


def test_the_process_has_one_app_with_every_page_callback_and_each_tests_settings(make_app, tmp_path) -> None:
    app = make_app()
    assert display_http(app).request("GET", "/_dash-dependencies").status == 200
    outputs = " ".join(app.callback_map)
    assert f"{wall_ids.CLOCK}.children" in outputs and f"{wall_ids.STALE_CLIENT}.className" in outputs
    assert "_pages_content.children" in outputs  # Dash Pages' own router
    own = resources_of(app.server)
    settings = Settings(data_dir=tmp_path / "other", redis_url=own.settings.redis_url, language="en")
    with pytest.raises(RuntimeError, match="one per process"):
        app_factory.create_app(settings)
    with pytest.raises(RuntimeError, match="once per test"):
        make_app(language="en")
    with app_factory.serving(settings) as same:  # other settings: other resources on the same app, for a while
        assert same is app and resources_of(app.server).settings is settings
        assert operator_http(app).request("GET", "/_dash-dependencies").status == 200
    assert resources_of(app.server) is own


def test_shell_wraps_the_pages_with_room_for_header_and_navigation() -> None:
    frame: Any = shell.layout()
    found: dict[str, Any] = {c.id: c for c in walk(frame) if isinstance(getattr(c, "id", None), str)}
    assert frame.id == shell.ROOT and found[shell.HEADER].hidden and found[shell.NAV].hidden
    assert "_pages_content" in found  # dash.page_container, where each page goes
    assert [getattr(c, "id", None) for c in frame.children] == [
        shell.BANNER,
        shell.BANNER_POLL,
        shell.HEADER,
        shell.NAV,
        None,
    ]
    assert found[shell.BANNER].hidden and found[shell.BANNER_POLL].disabled  # a wall screen never polls for one


def test_page_html_carries_the_watchdog_then_the_state_tables_before_any_script(make_app) -> None:
    html = operator_http(make_app()).request("GET", "/").text
    watchdog, states, watch, scripts = (
        html.index(s) for s in ('id="ioc-page-watchdog"', 'id="ioc-states"', 'id="ioc-access-watch"', "<script src=")
    )
    assert watchdog < states < watch < scripts
    assert f'data-every-ms="{shell.ACCESS_WATCH_MS}"' in html
    assert f'data-after-ms="{shell.PAGE_WATCHDOG_MS}"' in html and f'data-ready="{shell.PAGE_READY_SELECTOR}"' in html
    with pytest.raises(ValueError, match="css"):
        shell.index_string("<html>no placeholder</html>")


def page_ids() -> dict[str, list[str]]:
    """Every page's ids module (layouts/<page>/ids.py) and the shell: prefix -> the ids they define."""
    found = {shell.PREFIX: [shell.ROOT, shell.HEADER, shell.NAV, shell.BANNER, shell.BANNER_POLL]}
    for path in sorted((ROOT / "layouts").glob("*/ids.py")):
        module = importlib.import_module(f"layouts.{path.parent.name}.ids")
        names = [n for n in vars(module) if n.isupper() and n != "PREFIX" and isinstance(getattr(module, n), str)]
        prefix: str = module.PREFIX
        assert prefix == f"{path.parent.name}-", path
        found[prefix] = [getattr(module, n) for n in names]
    return found


def test_ids_are_defined_once_with_their_page_prefix() -> None:
    every = page_ids()
    assert "wall-" in every
    for prefix, defined in every.items():
        assert all(i.startswith(prefix) for i in defined), (prefix, defined)
    flat = [i for defined in every.values() for i in defined]
    assert len(flat) == len(set(flat))


def test_page_layouts_write_no_id_literal_of_their_own() -> None:
    """A page's modules take their ids from its ids module (so each is written once)."""
    for path in sorted((ROOT / "layouts").glob("*/*.py")):
        if path.name == "ids.py":
            continue
        prefix = f"{path.parent.name}-"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "id" and isinstance(node.value, ast.Constant):
                pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno} writes id {node.value.value!r} in place")
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "type" and isinstance(value, ast.Constant):
                        assert not str(value.value).startswith(prefix), f"{path.name}:{node.lineno}"
