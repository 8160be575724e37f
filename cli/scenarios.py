"""The `ioc scenarios` command: list the simulator's scenarios, show one merged, check scenario files.

`ioc scenarios` alone lists them. A scenario is named by its file name without `.yaml`/`.json` (shipped ones in
`simulators/scenarios/`), or given as a path to a file anywhere (`show` and `check`): what it `extends` is looked
up beside it first, then among the shipped ones. Episodes are checked against the city (`IOC_CITY_DIR`), so a
segment or camera the city does not have is refused with its line. A malformed file exits 2 with one line per
problem: `<file>:<line>: <field>: <what is wrong>`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ioc.settings import load_settings

if TYPE_CHECKING:
    from ioc.city import City
    from simulators.scenario import Scenario

AddCommand = Callable[..., argparse.ArgumentParser]


def _city() -> City:
    from ioc.city import cached_city

    return cached_city(load_settings().city_dir)


def _is_path(target: str) -> bool:
    return "/" in target or target.endswith((".yaml", ".yml", ".json"))


def _load(target: str, city: City) -> tuple[Scenario, dict[str, Any]]:
    """A scenario by name or file path, checked against the city, and its merged data as written."""
    from simulators.scenario import check_file, load_scenario, merged_file, merged_scenario

    if _is_path(target):
        path = Path(target)
        return check_file(path, city), merged_file(path)
    return load_scenario(target, city=city), merged_scenario(target)


def duration_text(duration_s: float | None) -> str:
    """A scenario's length for people: "24 h", "90 min", "until stopped"."""
    if duration_s is None:
        return "until stopped"
    minutes = duration_s / 60.0
    return f"{minutes / 60:g} h" if minutes % 60 == 0 else f"{minutes:g} min"


def _summary(scenario: Scenario) -> dict[str, Any]:
    return {
        "name": scenario.name,
        "title": scenario.title,
        "duration_min": None if scenario.duration_s is None else scenario.duration_s / 60.0,
        "start": None if scenario.start is None else scenario.start.isoformat(),
        "episodes": [
            {"kind": e.kind, "id": e.id, "at_min": e.at_min, "duration_min": e.duration_min} for e in scenario.episodes
        ],
    }


def cmd_scenarios_list(args: argparse.Namespace) -> int:
    """List the shipped scenarios: name, title, duration (a broken one is listed with its first problem)."""
    from simulators.errors import ScenarioError
    from simulators.scenario import list_scenarios, load_scenario

    city = _city()
    rows: list[dict[str, Any]] = []
    for name in list_scenarios():
        try:
            rows.append(_summary(load_scenario(name, city=city)))
        except ScenarioError as exc:
            rows.append({"name": name, "error": str(exc).splitlines()[0]})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        width = max((len(row["name"]) for row in rows), default=4)
        for row in rows:
            if "error" in row:
                print(f"{row['name']:<{width}}  INVALID  {row['error']}")
                continue
            duration = duration_text(None if row["duration_min"] is None else row["duration_min"] * 60.0)
            print(f"{row['name']:<{width}}  {duration:>13}  {row['title']}")
    return 2 if any("error" in row for row in rows) else 0


def cmd_scenarios_show(args: argparse.Namespace) -> int:
    """Print one scenario with what it extends merged in, as YAML (or JSON)."""
    from simulators.sources import to_yaml

    scenario, data = _load(args.target, _city())
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    print(f"# {scenario.name}: {scenario.title} ({duration_text(scenario.duration_s)}), merged with what it extends")
    sys.stdout.write(to_yaml(data))
    return 0


def cmd_scenarios_check(args: argparse.Namespace) -> int:
    """Check scenario files (or names): each is fine, or its problems are listed with file and line; exit 2 if any."""
    from simulators.errors import ScenarioError

    city = _city()
    results: list[dict[str, Any]] = []
    for target in args.targets:
        try:
            scenario, _ = _load(target, city)
        except ScenarioError as exc:
            results.append({"file": target, "ok": False, "problems": str(exc).splitlines()})
            if not args.json:
                print(f"{target}: not valid", file=sys.stderr)
                for line in str(exc).splitlines():
                    print(f"  {line}", file=sys.stderr)
            continue
        results.append({"file": target, "ok": True, **_summary(scenario)})
        if not args.json:
            kinds = ", ".join(e.kind for e in scenario.episodes) or "no episodes"
            print(f"{target}: ok: {scenario.title} ({duration_text(scenario.duration_s)}; {kinds})")
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0 if all(result["ok"] for result in results) else 2


def register(add: AddCommand) -> None:
    """Add the scenarios command to the `ioc` parser (`add` is its subcommand helper)."""
    parser = add("scenarios", cmd_scenarios_list, "the simulator's scenarios: list (default), show one, check files")
    parser.set_defaults(json=False)
    subs = parser.add_subparsers(dest="scenarios_command", required=False, metavar="ACTION")
    listing = subs.add_parser("list", help="name, title and duration of each", description="list the scenarios")
    listing.set_defaults(handler=cmd_scenarios_list)
    listing.add_argument("--json", action="store_true", help="print as JSON")
    show = subs.add_parser("show", help="one scenario merged with what it extends", description="show a scenario")
    show.set_defaults(handler=cmd_scenarios_show)
    show.add_argument("target", metavar="NAME", help="scenario name, or a path to a scenario file")
    show.add_argument("--json", action="store_true", help="print as JSON")
    check = subs.add_parser(
        "check", help="check scenario files, naming the file and line of each problem", description="check scenarios"
    )
    check.set_defaults(handler=cmd_scenarios_check)
    check.add_argument("targets", metavar="FILE", nargs="+", help="scenario file path (or a shipped scenario's name)")
    check.add_argument("--json", action="store_true", help="print the results as JSON")
