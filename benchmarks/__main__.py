"""`python -m benchmarks` (`make bench`): measured throughput and payload figures, the incident engine, one and two
aggregators on a local Redis Cluster (benchmarks/scaleout.py), a month of history pruned (benchmarks/retention.py),
an exercise at ×60 beside the live city (benchmarks/exercise_share.py), a replay of a day of history
(benchmarks/replay.py), then the managers' page over a year of incidents (benchmarks/managers.py; `--managers` runs
only that, `--incidents 0` skips it), then the screens on one `ioc run` (benchmarks/screens.py: event to screen in
headless Chromium with the simulator at x60, and many light screens with push against naive polling;
`--screens-only` runs only those), printed in one run so ratios are side by side; with --json also one JSON object
on the last line."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import cluster
from benchmarks.bigcity import describe_big_city, measure_big_city
from benchmarks.exercise_share import describe_exercise_share, measure_exercise_share
from benchmarks.incidents import measure_incident_engine
from benchmarks.managers import DEFAULT_INCIDENTS, describe, measure_managers
from benchmarks.replay import describe_replay, measure_replay
from benchmarks.retention import describe_retention, measure_retention
from benchmarks.scaleout import describe_cluster, measure_cluster
from benchmarks.screens import (
    CHROMIUM,
    describe_event_to_screen,
    describe_light_screens,
    ioc_run,
    measure_event_to_screen,
    measure_light_screens,
)
from benchmarks.throughput import BENCH_START, measure_throughput, redis_for_bench
from benchmarks.wall_tick import measure_tick_bytes, measure_wall_polls
from cli.main import configure_logging
from ioc.aggregator import tune_gc
from ioc.city import City, load_city
from ioc.cluster import Client
from ioc.keys import Keys
from ioc.namespaces import wipe
from ioc.settings import load_settings
from simulators import load_scenario
from simulators.engine import generate


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures (and, with --json, one JSON object on the last line)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON object, last line")
    parser.add_argument("--events", type=int, default=30_000, help="simulated events per round (default 30000)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds; medians are reported")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ticks", type=int, default=20, help="wall ticks to measure (default 20)")
    parser.add_argument(
        "--screens",
        type=int,
        default=20,
        help="wall screens polling, for polls/s before and after sharing (default 20; 0 skips it)",
    )
    parser.add_argument("--poll-rounds", type=int, default=6, help="alternating rounds of the polls/s figure")
    parser.add_argument("--wall", action="store_true", help="run only the wall's benchmarks (tick bytes, polls/s)")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("IOC_REDIS_URL"),
        help="Redis to measure (default: IOC_REDIS_URL, else a fresh embedded Redis)",
    )
    parser.add_argument(
        "--big-city-sensors",
        type=int,
        default=10_000,
        help="sensors of the generated big city whose wall is measured under `ioc web` and in headless Chromium "
        "(default 10000; 0 skips it)",
    )
    parser.add_argument("--big-city-screens", type=int, default=100, help="screens the big city's updates reach (100)")
    parser.add_argument("--big-city-rounds", type=int, default=5, help="1 %% updates measured in the big city (5)")
    parser.add_argument("--managers", action="store_true", help="run only the managers' page benchmark")
    parser.add_argument(
        "--incidents",
        type=int,
        default=DEFAULT_INCIDENTS,
        help=f"incidents in the managers' year (default {DEFAULT_INCIDENTS}; 0 skips that benchmark)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL for the managers' benchmark, in a schema of its own (default: SQLite in a temporary folder)",
    )
    parser.add_argument("--managers-rounds", type=int, default=5, help="rounds of each managers' figure (median)")
    parser.add_argument(
        "--alerts",
        type=int,
        default=5000,
        help="alerts in the incident engine's storm (default 5000; 0 skips that benchmark); on SQLite "
        "and, with --database-url, on PostgreSQL too",
    )
    parser.add_argument(
        "--cluster-events",
        type=int,
        default=30_000,
        help="events per round on a local 3-master Redis Cluster, one and two aggregators (default 30000; 0 skips; "
        "needs redis-server and redis-cli)",
    )
    parser.add_argument("--cluster-rounds", type=int, default=3, help="alternating rounds on the cluster (median)")
    parser.add_argument(
        "--history-events-per-day",
        type=int,
        default=20_000,
        help="raw events per day in the generated history to prune (default 20000; 0 skips that benchmark)",
    )
    parser.add_argument("--history-days", type=int, default=40, help="days of generated history (default 40)")
    parser.add_argument(
        "--history-alert-rows-days",
        type=float,
        default=30.0,
        help="IOC_INCIDENT_ALERT_RETENTION_DAYS for the pruning (default 30, so a 40-day history shows SQL pruning; "
        "the setting's own default is 90); the other retentions are the settings'",
    )
    parser.add_argument(
        "--exercise-minutes",
        type=float,
        default=4.0,
        help="minutes of the live city beside which an exercise plays at ×60 (default 4: the 240 minutes of "
        "rush-hour-crash; 0 skips that benchmark)",
    )
    parser.add_argument("--exercise-rounds", type=int, default=3, help="rounds of the exercise's share (median)")
    parser.add_argument(
        "--replay-hours",
        type=float,
        default=24.0,
        help="hours of the normal day's history (Tam Kỳ's rate) to replay moments of (default 24; 0 skips it)",
    )
    parser.add_argument("--screens-only", action="store_true", help="run only the screens on one `ioc run`")
    parser.add_argument(
        "--screen-events",
        type=int,
        default=60,
        help="readings timed from XADD to a wall in headless Chromium, simulator at x60 (default 60; 0 skips)",
    )
    parser.add_argument(
        "--light-screens",
        type=int,
        default=1000,
        help="light screens (push stream and a tick per ring) on one `ioc run`, then polling naively (default "
        "1000; 0 skips)",
    )
    parser.add_argument(
        "--screen-push-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the event-to-screen `ioc run` (e.g. IOC_PUSH_MIN_INTERVAL_MS=0); repeatable",
    )
    parser.add_argument("--light-changes", type=int, default=10, help="readings the light screens receive (10)")
    parser.add_argument("--light-change-every-s", type=float, default=5.0, help="seconds between them (5)")
    parser.add_argument("--light-threads", type=int, default=32, help="the light screens' ticks in flight at most")
    parser.add_argument("--light-no-naive", action="store_true", help="light screens with push only (a long run)")
    args = parser.parse_args(argv)
    configure_logging("bench")
    settings = load_settings()
    city = load_city(settings.city_dir)  # IOC_CITY_DIR: e.g. a city of `ioc city generate`
    tune_gc()  # as in the aggregator process; the raw drain runs under the same setting
    with redis_for_bench(args.redis_url) as (client, url, where):
        figures: dict[str, Any] = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "redis": where,
        }
        screens = not args.managers and not args.wall and (args.screen_events > 0 or args.light_screens > 0)
        if screens:
            figures |= _measure_screens(args, client, url, city)
        if not args.managers and not args.screens_only:
            if not args.wall:
                figures |= measure_throughput(
                    client, city, events=args.events, rounds=args.rounds, batch_size=args.batch_size, seed=args.seed
                )
            events = generate(city, load_scenario("normal-day"), args.seed, BENCH_START)
            app_settings = settings.model_copy(update={"redis_url": url})
            figures |= measure_tick_bytes(client, app_settings, city, events, ticks=args.ticks)
            if args.screens > 0:
                events = generate(city, load_scenario("normal-day"), args.seed, BENCH_START)
                figures |= measure_wall_polls(
                    client, app_settings, city, events, screens=args.screens, rounds=args.poll_rounds
                )
        others = not args.managers and not args.wall and not args.screens_only
        big_city = not args.managers and not args.screens_only and args.big_city_sensors > 0
        if big_city:
            figures |= measure_big_city(
                client,
                url,
                sensors=args.big_city_sensors,
                rounds=args.big_city_rounds,
                screens=args.big_city_screens,
                seed=args.seed,
            )
        engine = others and args.alerts > 0
        if engine:
            figures |= measure_incident_engine(
                client, city, postgres_url=args.database_url, alerts=args.alerts, rounds=3, batch_size=args.batch_size
            )
        clustered = others and args.cluster_events > 0 and cluster.available()
        if clustered:
            figures |= measure_cluster(
                city, events=args.cluster_events, rounds=args.cluster_rounds, batch_size=args.batch_size, seed=args.seed
            )
        history = others and args.history_events_per_day > 0
        if history:
            figures |= measure_retention(
                client,
                city,
                days=args.history_days,
                events_per_day=args.history_events_per_day,
                settings=settings.model_copy(update={"incident_alert_retention_days": args.history_alert_rows_days}),
                seed=args.seed,
            )
        exercise = others and args.exercise_minutes > 0
        if exercise:
            figures |= measure_exercise_share(
                client,
                city,
                live_minutes=args.exercise_minutes,
                rounds=max(args.exercise_rounds, 1),
                batch_size=args.batch_size,
                seed=args.seed,
            )
        replayed = others and args.replay_hours > 0
        if replayed:
            figures |= measure_replay(client, city, hours=args.replay_hours, seed=args.seed)
        managers = args.managers or (args.incidents > 0 and others)
        if managers:
            figures |= measure_managers(
                city,
                url,
                database_url=args.database_url,
                count=max(args.incidents, 1),
                rounds=args.managers_rounds,
                seed=args.seed,
            )
    parts: tuple[str, ...] = (
        ("managers",)
        if args.managers
        else ("screens",)
        if args.screens_only
        else (
            "wall" if args.wall else "throughput",
            *(("polls",) if args.screens > 0 else ()),
            *(("screens",) if screens else ()),
            *(("bigcity",) if big_city else ()),
            *(("engine",) if engine else ()),
            *(("cluster",) if clustered else ()),
            *(("history",) if history else ()),
            *(("exercise",) if exercise else ()),
            *(("replay",) if replayed else ()),
            *(("managers",) if managers else ()),
        )
    )
    return _print(figures, json_line=args.json, parts=parts)


def _measure_screens(args: argparse.Namespace, client: Client, redis_url: str, city: City) -> dict[str, Any]:
    """The screens on one `ioc run` (benchmarks/screens.py): event to screen in Chromium, then the light screens,
    each in a namespace of its own, wiped after."""
    figures: dict[str, Any] = {}
    suffix = os.getpid()
    with tempfile.TemporaryDirectory(prefix="ioc-bench-screens-") as folder:
        if args.screen_events > 0 and CHROMIUM.exists():
            env = dict(item.split("=", 1) for item in args.screen_push_env)
            with ioc_run(Path(folder), redis_url, Keys(f"scr{suffix}"), **env) as run:
                figures |= measure_event_to_screen(run, redis_url, city, samples=args.screen_events)
            wipe(client, f"scr{suffix}")
        if args.light_screens > 0:
            streams = str(args.light_screens + 10)  # either worker may be given all of them
            with ioc_run(
                Path(folder), redis_url, Keys(f"lit{suffix}"), simulator=False, IOC_PUSH_STREAMS=streams
            ) as run:
                figures |= measure_light_screens(
                    run,
                    redis_url,
                    city,
                    screens=args.light_screens,
                    changes=args.light_changes,
                    change_every_s=args.light_change_every_s,
                    threads=args.light_threads,
                    naive=not args.light_no_naive,
                )
            wipe(client, f"lit{suffix}")
    return figures


def _print(figures: dict[str, Any], *, json_line: bool, parts: tuple[str, ...]) -> int:
    """Print the figures of the parts that ran (and, with `json_line`, one JSON object on the last line)."""
    out = sys.stdout
    out.write(f"machine:                 {figures['machine']}\n")
    out.write(f"redis:                   {figures['redis']}\n")
    if "throughput" in parts:
        _print_throughput(figures)
    if "wall" in parts:
        _print_tick(figures)
    if "polls" in parts:
        out.write(
            f"wall polls, {figures['polls_screens']} screens: before {figures['polls_before_per_s']:,} polls/s "
            f"(per-screen picture, SQL session check; rounds {figures['polls_before_per_round']}), "
            f"after {figures['polls_after_per_s']:,} polls/s (shared picture, kept principals; rounds "
            f"{figures['polls_after_per_round']}): x{figures['polls_speedup']}\n"
        )
    if "screens" in parts:
        if "screen_event_samples" in figures:
            out.write("\n".join(describe_event_to_screen(figures)) + "\n")
        if "light_screens" in figures:
            out.write("\n".join(describe_light_screens(figures)) + "\n")
    if "bigcity" in parts:
        out.write("\n".join(describe_big_city(figures)) + "\n")
    if "engine" in parts:
        for kind in ("sqlite", "postgresql"):
            if (rate := figures.get(f"incident_engine_{kind}_alerts_per_s")) is not None:
                out.write(
                    f"incident engine, {kind + ':':<12}{rate:,} alerts/s "
                    f"(median of {figures['incident_rounds']} storms of {figures['incident_alerts']:,} alerts; "
                    f"rounds {figures[f'incident_engine_{kind}_per_round']}); "
                    f"{figures[f'incident_engine_{kind}_incidents']} incidents opened\n"
                )
    if "cluster" in parts:
        out.write("\n".join(describe_cluster(figures)) + "\n")
    if "history" in parts:
        out.write("\n".join(describe_retention(figures)) + "\n")
    if "exercise" in parts:
        out.write("\n".join(describe_exercise_share(figures)) + "\n")
    if "replay" in parts:
        out.write("\n".join(describe_replay(figures)) + "\n")
    if "managers" in parts:
        out.write("\n".join(describe(figures)) + "\n")
    if json_line:
        out.write(json.dumps(figures, ensure_ascii=False) + "\n")
    return 0


def _print_throughput(figures: dict[str, Any]) -> None:
    out = sys.stdout
    out.write(
        f"events per round:        {figures['events']} (normal-day simulation), {figures['rounds']} rounds, "
        f"batch {figures['batch_size']}\n"
    )
    out.write(f"aggregator:              {figures['aggregator_events_per_s']:,} events/s (median)\n")
    out.write(f"raw XREADGROUP+XACK:     {figures['raw_drain_events_per_s']:,} events/s (median)\n")
    spread = f"{min(figures['ratio_per_round'])}-{max(figures['ratio_per_round'])}"
    out.write(f"ratio aggregator/raw:    {figures['ratio']} (median of rounds, range {spread}; target >= 0.5)\n")
    _print_tick(figures)


def _print_tick(figures: dict[str, Any]) -> None:
    out = sys.stdout
    out.write(f"wall tick, first:        {figures['tick_first_bytes']:,} bytes\n")
    out.write(
        f"wall tick, steady:       {figures['tick_steady_bytes']:,} bytes median, "
        f"{figures['tick_steady_max_bytes']:,} max over {figures['tick_count']} ticks of "
        f"{figures['tick_simulated_s']:.0f} simulated s (target < 20 KB); "
        f"{figures['tick_steady_gzip_bytes']:,} bytes gzipped\n"
    )


if __name__ == "__main__":
    sys.exit(main())
