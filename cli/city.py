"""The `ioc city` command: `ioc city generate` writes a synthetic city of a given size (simulators/citygen.py), in the
city format (docs/CITY.md), for benchmarks and tests; point IOC_CITY_DIR at the folder to use it."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from ioc.errors import InvalidInput

AddCommand = Callable[..., argparse.ArgumentParser]


def _count(text: str) -> int:
    """A whole number of at least 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def cmd_city_generate(args: argparse.Namespace) -> int:
    """Write the city's four files into a new (or empty) folder and say what it holds."""
    from simulators.citygen import CityGenError, write_city

    started = time.perf_counter()
    try:
        sizes = write_city(args.folder, args.sensors, args.segments, args.seed)
    except CityGenError as exc:
        raise InvalidInput(str(exc)) from None
    elapsed = time.perf_counter() - started
    files = ", ".join(f"{name} {size / 1024:,.0f} KB" for name, size in sizes.items())
    print(
        f"wrote a city of {args.sensors} sensors and {args.segments} segments (seed {args.seed}) to {args.folder} "
        f"in {elapsed:.1f} s: {files}\nuse it with IOC_CITY_DIR={args.folder}"
    )
    return 0


def register(add: AddCommand) -> None:
    """Add the city command to the `ioc` parser (`add` is its subcommand helper)."""
    parser = add("city", cmd_city_generate, "city data folders: generate a synthetic one")
    subs = parser.add_subparsers(dest="city_command", required=True, metavar="ACTION")
    text = "write a synthetic city of the given size (a jittered street grid, sensors of every kind) into DIR"
    generate = subs.add_parser("generate", help=text, description=text)
    generate.set_defaults(handler=cmd_city_generate)
    generate.add_argument("--sensors", type=_count, required=True, help="how many sensors, of every kind together")
    generate.add_argument("--segments", type=_count, required=True, help="how many road segments (about 1 km each)")
    generate.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same files (0)")
    generate.add_argument("folder", metavar="DIR", type=Path, help="a new or empty folder to write the files into")
