"""Imports run downward only: the core knows no Dash, no simulator and nothing above it, layouts read no Redis,
callbacks never import the app, and only the top builds one: the entry points (`cli`), which alone start processes
and may import the simulators, the app and `webapp`, beside the benchmarks and the tests. Every import counts:
those inside functions, relative ones and `importlib.import_module` / `__import__` of a literal name. Nothing in the
project reaches into Dash's private modules or attributes.

Inside the core the same holds: its own modules (`ioc/*.py`) know none of the packages built on them, and each of
those packages (`ioc/identity/`, `ioc/incidents/`, ...) knows the core and only the packages its rule leaves it.
The few imports a rule does not forbid are named one by one in EXCEPTIONS, and each must still be made."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from dash import Dash

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = ("cli",)
APP_AND_ABOVE = ("webapp", "app_factory", *ENTRY_POINTS, "benchmarks", "tests")
SIMULATORS = ("simulators",)
DASH = ("dash", "dash_leaflet", "plotly")
# The packages built on the core's own modules (ioc/*.py), which never import them.
CORE_PACKAGES = (
    "ioc.identity",
    "ioc.incidents",
    "ioc.aggregator",
    "ioc.reducers",
    "ioc.streams",
    "ioc.exercises",
    "ioc.replay",
)
# Source folder, module or glob of modules -> the packages (or dotted modules) it must never import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "ioc": (*DASH, *SIMULATORS, "layouts", "callbacks", *APP_AND_ABOVE),
    "ioc/*.py": CORE_PACKAGES,
    "ioc/migrations": CORE_PACKAGES,  # the schema comes through ioc.schema
    "ioc/identity": ("ioc.incidents", "ioc.aggregator", "ioc.reducers", "ioc.streams", "ioc.exercises", "ioc.replay"),
    "ioc/incidents": ("ioc.identity", "ioc.aggregator", "ioc.reducers", "ioc.exercises", "ioc.replay"),
    "ioc/streams": ("ioc.identity", "ioc.incidents", "ioc.aggregator", "ioc.reducers", "ioc.exercises", "ioc.replay"),
    "ioc/reducers": ("ioc.identity", "ioc.incidents", "ioc.aggregator", "ioc.streams", "ioc.exercises", "ioc.replay"),
    "ioc/aggregator": ("ioc.identity", "ioc.incidents", "ioc.exercises", "ioc.replay"),
    # an exercise's reset removes its incident rows; it knows no consumer and no account
    "ioc/exercises": ("ioc.identity", "ioc.aggregator", "ioc.reducers", "ioc.streams", "ioc.replay"),
    # a replay runs the aggregator's engine on copies of raw entries; it knows no account, incident or exercise
    "ioc/replay": ("ioc.identity", "ioc.incidents", "ioc.exercises"),
    "simulators": (*DASH, "layouts", "callbacks", *APP_AND_ABOVE),
    "layouts": ("redis", "flask", "ioc.store", "ioc.settings", *SIMULATORS, "callbacks", *APP_AND_ABOVE),
    "callbacks": (*SIMULATORS, *APP_AND_ABOVE),
    "app_factory.py": (*SIMULATORS, "webapp", *ENTRY_POINTS, "benchmarks", "tests"),
    "webapp.py": (*SIMULATORS, *ENTRY_POINTS, "benchmarks", "tests"),
    # The entry points may import everything below them (the simulators, the app, webapp), nothing beside them.
    "cli": ("benchmarks", "tests"),
    "benchmarks": ("webapp", "tests"),  # the benchmarks serve the factory's app with settings of their own
    "assets": ("ioc", *SIMULATORS, "layouts", "callbacks", *APP_AND_ABOVE),  # static files, a package to install
}
# Source folder or module -> the imports it may make although a rule above forbids them.
EXCEPTIONS: dict[str, tuple[str, ...]] = {
    "ioc/schema.py": (
        "ioc.identity.tables",
        "ioc.incidents.tables",
        "ioc.exercises.tables",
    ),  # it gathers every table module into the one metadata
    "ioc/incidents": ("ioc.identity.roles",),  # who may act on an incident
}
DYNAMIC_IMPORTS = ("importlib.import_module", "import_module", "__import__")


def _package_of(path: Path) -> list[str]:
    """The dotted package a source file belongs to, as parts (`ioc/incidents/engine.py` -> ioc, incidents)."""
    return list(path.resolve().parent.relative_to(ROOT).parts)


def _absolute(path: Path, module: str | None, level: int) -> str:
    """The absolute name of `from <dots><module> import ...` in that file."""
    if level == 0:
        return module or ""
    package = _package_of(path)
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, *([module] if module else [])])


def _call_name(func: ast.expr) -> str:
    """A called function's dotted name (`importlib.import_module`), or empty when it is not a plain name."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        inner = _call_name(func.value)
        return f"{inner}.{func.attr}" if inner else ""
    return ""


def imported_names(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """Every module a file imports (or `source` would, as that file), with its line: `import a.b` gives a.b,
    `from a.b import c` gives a.b.c (a relative import made absolute), `importlib.import_module("a.b")` gives a.b."""
    found: list[tuple[int, str]] = []
    text = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(path, node.module, node.level)
            found.extend((node.lineno, f"{module}.{alias.name}" if module else alias.name) for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and _call_name(node.func) in DYNAMIC_IMPORTS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def _is_within(name: str, modules: tuple[str, ...]) -> bool:
    """Whether a dotted name is one of `modules` or inside one of them."""
    return any(name == module or name.startswith(f"{module}.") for module in modules)


def source_files(part: str) -> list[Path]:
    """The Python files of a source folder (recursively), a module, or a glob of modules (`ioc/*.py`)."""
    if "*" in part:
        return sorted(ROOT.glob(part))
    target = ROOT / part
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


def excepted(path: Path, name: str) -> bool:
    """Whether EXCEPTIONS let this file import `name`."""
    where = path.relative_to(ROOT).as_posix()
    return any(
        (where == place or where.startswith(f"{place}/")) and _is_within(name, allowed)
        for place, allowed in EXCEPTIONS.items()
    )


def violations(part: str, forbidden: tuple[str, ...]) -> list[str]:
    """Imports of `forbidden` modules in a source folder or module, as 'file:line name'."""
    files = source_files(part)
    assert files, f"nothing to check in {part}"
    return [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in files
        for line, name in imported_names(path)
        if _is_within(name, forbidden) and not excepted(path, name)
    ]


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_imports_run_downward(part: str) -> None:
    assert violations(part, FORBIDDEN[part]) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "upward.py"
    module.write_text("def f() -> None:\n    from callbacks.wall.tick import tick\n")
    assert imported_names(module) == [(2, "callbacks.wall.tick.tick")]


def test_the_check_sees_relative_and_dynamic_imports() -> None:
    """A relative import is named from the file's package; import_module with a literal name counts too."""
    module = ROOT / "ioc" / "incidents" / "_layers_probe.py"  # never written: only its place matters
    source = (
        "import importlib\n"
        "from . import engine\n"
        "from ..errors import IocError\n"
        "def f() -> None:\n"
        "    importlib.import_module('simulators.runner')\n"
        "    __import__('cli')\n"
    )
    assert sorted(imported_names(module, source)) == [
        (1, "importlib"),
        (2, "ioc.incidents.engine"),
        (3, "ioc.errors.IocError"),
        (5, "simulators.runner"),
        (6, "cli"),
    ]


def test_the_core_may_not_import_the_entry_points_or_the_simulators() -> None:
    """No hole: the core's rule names the simulators and the entry points, and every layer below the top too."""
    for part in ("ioc", "simulators", "layouts", "callbacks", "app_factory.py", "webapp.py"):
        assert "cli" in FORBIDDEN[part], part
    for part in ("ioc", "layouts", "callbacks", "app_factory.py", "webapp.py"):
        assert "simulators" in FORBIDDEN[part], part


def test_every_part_of_the_source_has_a_rule() -> None:
    """A new top-level package or module is checked too (the tests may import anything)."""
    parts = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    parts |= {p.name for p in ROOT.glob("*.py")}
    assert parts - {"tests"} <= set(FORBIDDEN), sorted(parts - {"tests"} - set(FORBIDDEN))


def test_every_core_package_has_a_rule() -> None:
    """A new package inside the core gets a rule too: which of its neighbours it may import."""
    packages = {p.name for p in (ROOT / "ioc").iterdir() if (p / "__init__.py").is_file()}
    ruled = {part.removeprefix("ioc/") for part in FORBIDDEN if part.startswith("ioc/") and "*" not in part}
    assert packages <= ruled, sorted(packages - ruled)
    assert {f"ioc.{name}" for name in packages} == set(CORE_PACKAGES)


def test_every_exception_is_still_made() -> None:
    """An exception no file needs any more is removed, so it cannot quietly let a new import through."""
    for place, allowed in EXCEPTIONS.items():
        names = [name for path in source_files(place) for _, name in imported_names(path)]
        for module in allowed:
            assert any(_is_within(name, (module,)) for name in names), (place, module)


# ---------------------------------------------------------------- Dash's private parts


SOURCES = ("ioc", "simulators", "layouts", "callbacks", "cli", "benchmarks", "tests", "app_factory.py", "webapp.py")


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def dash_private_uses(path: Path, private_attributes: frozenset[str]) -> list[str]:
    """A file's uses of Dash's private modules (`import dash._pages`, `from dash import _callback`,
    `dash._callback.GLOBAL_CALLBACK_MAP`) and its reads of a private attribute of a Dash app (`app._callback_list`)
    on anything but `self` or `cls`, as 'line name'."""
    found = [
        f"{line} {name}"
        for line, name in imported_names(path)
        if name.split(".")[0] == "dash" and any(is_private(part) for part in name.split("."))
    ]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value.id if isinstance(node.value, ast.Name) else ""
        if (node.attr in private_attributes and owner not in ("self", "cls")) or (
            owner == "dash" and is_private(node.attr)
        ):
            found.append(f"{node.lineno} {ast.unparse(node)}")
    return found


def test_nothing_reaches_into_dashs_private_parts(web_app: Dash) -> None:
    """The app is built through Dash's public API only, so a Dash upgrade that changes its insides breaks nothing
    silently: no private module of Dash is imported and no private attribute of the app, its class or Dash's
    modules is read, anywhere in the project (the tests too)."""
    private = frozenset(name for name in (*vars(web_app), *dir(Dash)) if is_private(name))
    assert {"_callback_list", "_inline_scripts", "_setup_server"} <= private  # what the factory used to reach
    files = [ROOT / part for part in SOURCES if (ROOT / part).is_file()]
    files += [path for part in SOURCES if (ROOT / part).is_dir() for path in sorted((ROOT / part).rglob("*.py"))]
    uses = {str(path.relative_to(ROOT)): found for path in files if (found := dash_private_uses(path, private))}
    assert uses == {}


def test_the_check_sees_a_private_import_and_attribute(tmp_path: Path) -> None:
    module = tmp_path / "private.py"
    module.write_text(
        "from dash import _callback as c\nimport dash._pages\n"
        "def f(app):\n    app._inline_scripts.extend(c.GLOBAL_INLINE_SCRIPTS)\n    return self._inline_scripts\n"
        "dash._get_app.APP = None\n"
    )
    assert sorted(dash_private_uses(module, frozenset({"_inline_scripts"}))) == [
        "1 dash._callback",
        "2 dash._pages",
        "4 app._inline_scripts",
        "6 dash._get_app",
    ]
