"""Scenario files as text: YAML (with comments) or JSON, read with the line of every key and item, merged along
their `extends` chain, and pydantic's errors put back on the line that caused them.

YAML is read with a core-schema resolver (as in YAML 1.2): only `true`/`false` are booleans, only decimal,
`0x` and `0o` numbers are numbers, and times such as `16:30` or dates stay text. PyYAML's default YAML 1.1
rules would read `16:30` as the number 990 (base 60) and `no` as false, surprises in a file of local times and
Vietnamese texts. A key given twice in one mapping is refused (YAML and JSON parsers keep the last one silently).

Each file read gives a `Located`: the data and, for every path into it (`("episodes", 0, "at_min")`), the file and
line where it was written. `merge` keeps the origin of whatever wins, so a problem in a value a scenario inherits
is reported in the file it came from. `problem_lines` turns a pydantic `ValidationError` into lines of the form
`<file>:<line>: <path>: <what is wrong>`, like a compiler's, which editors and terminals can jump to.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from simulators.errors import ScenarioError

Loc = tuple[int | str, ...]
SUFFIXES: Final = (".yaml", ".yml", ".json")
_MAX_NODES: Final = 200_000  # a scenario has a few thousand; aliases multiplying beyond this are refused
_MAX_DEPTH: Final = 32
_MAX_PROBLEMS: Final = 8


@dataclass(frozen=True)
class Origin:
    """Where a value was written: a file (as shown to the user) and a 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Located:
    """A file's data with the origin of each path into it (missing paths: the file, no line)."""

    data: dict[str, Any]
    file: str
    origins: dict[Loc, Origin] = field(default_factory=dict)

    def origin(self, loc: Loc) -> Origin | None:
        """The origin of the longest prefix of `loc` that was written somewhere."""
        for end in range(len(loc), -1, -1):
            found = self.origins.get(loc[:end])
            if found is not None:
                return found
        return None


# -- reading -----------------------------------------------------------------------------------------------------

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"


class _CoreLoader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's plain scalars: no base-60 numbers, no yes/no/on/off, no dates."""


_CoreLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (_INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        _FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    (_NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    _CoreLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text)


_CoreLoader.add_constructor(_INT, _construct_int)


def display_name(path: Path) -> str:
    """How a file is named in messages: relative to the working folder when it lies below it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


def read_file(path: Path) -> Located:
    """A scenario file's top-level object with the origin of every key and item; ScenarioError if unreadable."""
    label = display_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ScenarioError(f"{label}: cannot be read: {exc.strerror or exc}") from None
    if path.suffix == ".json":
        data = _json(text, label)
        try:  # JSON is YAML: the same walk gives its lines (the values come from the JSON parser)
            origins = _yaml_nodes(text, label)[1]
        except ScenarioError:
            origins = {}
    else:
        data, origins = _yaml_nodes(text, label)
    if not isinstance(data, dict):
        raise ScenarioError(f"{label}:1: expected a mapping of sections (title, traffic, ...), got {_kind(data)}")
    return Located(data, label, origins)


def _json(text: str, label: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise ScenarioError(f"{label}: key {key!r} is given twice in one object")
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{label}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None


def _yaml_nodes(text: str, label: str) -> tuple[Any, dict[Loc, Origin]]:
    loader = _CoreLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError(f"{label}:1: the file is empty")
        origins: dict[Loc, Origin] = {}
        _walk(loader, node, (), origins, label, [0])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        what = exc.problem or exc.context or "unreadable"
        if exc.context and exc.problem:
            began = exc.context_mark
            what += f" ({exc.context}" + (f" from line {began.line + 1})" if began is not None else ")")
        raise ScenarioError(f"{where}: not valid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{label}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, origins


def _walk(
    loader: _CoreLoader, node: yaml.Node, loc: Loc, origins: dict[Loc, Origin], label: str, count: list[int]
) -> None:
    count[0] += 1
    if count[0] > _MAX_NODES or len(loc) > _MAX_DEPTH:
        raise ScenarioError(f"{label}:{node.start_mark.line + 1}: too large or too deeply nested for a scenario")
    origins.setdefault(loc, Origin(label, node.start_mark.line + 1))
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                raise ScenarioError(f"{label}:{line}: a key must be a text, got {_kind(key)}")
            if key in seen:
                where = _dotted(loc) or "the top level"
                raise ScenarioError(f"{label}:{line}: {where}: key {key!r} is given twice (first on line {seen[key]})")
            seen[key] = line
            origins[(*loc, key)] = Origin(label, line)
            _walk(loader, value_node, (*loc, key), origins, label, count)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(loader, item, (*loc, index), origins, label, count)


def _kind(value: object) -> str:
    return {list: "a list", str: "a text", type(None): "nothing"}.get(type(value), type(value).__name__)


# -- merging -----------------------------------------------------------------------------------------------------


def merge(base: Located, override: Located) -> Located:
    """`override` on top of `base`: mappings merge key by key, anything else (numbers, lists) replaces the base's,
    and each path keeps the origin of the file its value came from."""
    origins = dict(base.origins)

    def walk(into: dict[str, Any], over: dict[str, Any], loc: Loc) -> dict[str, Any]:
        merged = dict(into)
        for key, value in over.items():
            here = (*loc, key)
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = walk(merged[key], value, here)
            else:
                for stale in [p for p in origins if p[: len(here)] == here]:
                    del origins[stale]
                merged[key] = value
        return merged

    data = walk(base.data, override.data, ())
    origins.update(override.origins)
    return Located(data, override.file, origins)


# -- errors ------------------------------------------------------------------------------------------------------


def problem_lines(located: Located, exc: ValidationError) -> list[str]:
    """pydantic's errors as `<file>:<line>: <path>: <problem>` lines in our words (the first few)."""
    errors = exc.errors(include_url=False)
    lines = [_problem(located, error) for error in errors[:_MAX_PROBLEMS]]
    if len(errors) > _MAX_PROBLEMS:
        lines.append(f"(and {len(errors) - _MAX_PROBLEMS} more)")
    return lines


def _data_loc(data: Any, loc: tuple[int | str, ...], missing: bool) -> Loc:
    """The part of a pydantic location that walks the data: union tags, validator names and the like dropped."""
    kept: list[int | str] = []
    current = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(current, dict) and part in current:
            current = current[part]
            kept.append(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[int(part)]
            kept.append(part)
        elif last and missing and isinstance(part, str):
            kept.append(part)
    return tuple(kept)


def _problem(located: Located, error: ErrorDetails) -> str:
    kind = error["type"]
    loc = _data_loc(located.data, error["loc"], missing=kind == "missing")
    value, ctx = error.get("input"), error.get("ctx", {})
    if kind == "missing" and loc:
        origin = located.origin(loc[:-1])
        return _line(origin, located.file, loc[:-1], f"missing {loc[-1]!r}")
    if kind.startswith("scenario_"):
        message = error["msg"]
    elif kind == "union_tag_invalid":
        known = str(ctx.get("expected_tags", "")).replace("'", "")
        message = f"unknown episode kind {ctx.get('tag')!r} (this engine implements: {known})"
    elif kind == "union_tag_not_found":
        message = "missing 'kind' (what sort of episode this is)"
    elif kind == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}" if loc else "unknown field"
    elif kind in ("float_type", "finite_number", "float_parsing", "int_type", "int_parsing", "int_from_float"):
        whole = kind.startswith("int")
        message = f"expected a {'whole ' if whole else ''}number, got {_short(value)}"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {
            "ge": f"at least {ctx.get('ge')}",
            "le": f"at most {ctx.get('le')}",
            "gt": f"more than {ctx.get('gt')}",
            "lt": f"less than {ctx.get('lt')}",
        }
        which = next(key for key in ("ge", "le", "gt", "lt") if key in ctx)
        message = f"{_short(value)} is outside the allowed range: expected {bound[which]}"
    elif kind in ("string_type", "str_type"):
        message = f"expected a text, got {_short(value)}"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping, got {_short(value)}"
    elif kind in ("list_type", "tuple_type"):
        message = f"expected a list, got {_short(value)}"
    elif kind == "literal_error":
        message = f"expected {ctx.get('expected')}, got {_short(value)}"
    elif kind == "bool_type":
        message = f"expected true or false, got {_short(value)}"
    else:
        message = f"{error['msg']}, got {_short(value)}"
    return _line(located.origin(loc), located.file, loc, message)


def located_line(located: Located, loc: Loc, message: str) -> str:
    """A problem found after validation as `<file>:<line>: <path>: <problem>`, at the line that wrote `loc`."""
    return _line(located.origin(loc), located.file, loc, message)


def _line(origin: Origin | None, file: str, loc: Loc, message: str) -> str:
    where = str(origin) if origin is not None else file
    path = _dotted(loc)
    return f"{where}: {path}: {message}" if path else f"{where}: {message}"


def _dotted(loc: Loc) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return text.removeprefix(".")


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


# -- showing -----------------------------------------------------------------------------------------------------


class _ShowDumper(yaml.SafeDumper):
    """Block style for mappings and lists of mappings, one line for short lists of plain values."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any] | tuple[Any, ...]) -> yaml.Node:
    inline = all(not isinstance(item, dict | list | tuple) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", list(data), flow_style=inline)


_ShowDumper.add_representer(list, _represent_list)
_ShowDumper.add_representer(tuple, _represent_list)


def to_yaml(data: dict[str, Any]) -> str:
    """A merged scenario as readable YAML: its keys in file order, Vietnamese as written, profiles on one line."""
    text: str = yaml.dump(data, Dumper=_ShowDumper, sort_keys=False, allow_unicode=True, width=120)
    return text
