"""Imports run downward only: the core knows no Dash and nothing above it, layouts read no Redis, callbacks never
import the app, and only the top (webapp, benchmarks, tests) builds one. Every import counts, including those
inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP_AND_ABOVE = ("webapp", "app_factory", "benchmarks", "tests")
# Source folder or module -> the top-level packages (or dotted modules) it must never import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "ioc": ("dash", "dash_leaflet", "plotly", "layouts", "callbacks", *APP_AND_ABOVE),
    "simulators": ("dash", "dash_leaflet", "plotly", "layouts", "callbacks", *APP_AND_ABOVE),
    "layouts": ("redis", "flask", "ioc.store", "ioc.settings", "callbacks", *APP_AND_ABOVE),
    "callbacks": APP_AND_ABOVE,
    "app_factory.py": ("webapp", "benchmarks", "tests"),
    "benchmarks": ("webapp", "tests"),  # the benchmarks build their own app through the factory
}


def imported_names(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, with its line: `import a.b` gives a.b, `from a.b import c` gives a.b.c."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def violations(part: str, forbidden: tuple[str, ...]) -> list[str]:
    """Imports of `forbidden` modules in a source folder or module, as 'file:line name'."""
    target = ROOT / part
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    assert files, f"nothing to check in {part}"
    return [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in files
        for line, name in imported_names(path)
        if any(name == bad or name.startswith(f"{bad}.") for bad in forbidden)
    ]


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_imports_run_downward(part: str) -> None:
    assert violations(part, FORBIDDEN[part]) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "upward.py"
    module.write_text("def f() -> None:\n    from callbacks.wall.tick import tick\n")
    assert imported_names(module) == [(2, "callbacks.wall.tick.tick")]
