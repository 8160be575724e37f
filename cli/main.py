"""The `ioc` command: run the whole system or one of its processes, simulate, show settings."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import math
import os
import random
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Final
from urllib.parse import urlsplit

import redis

from ioc.datadir import private_opener, secure_data_folder, set_private_umask
from ioc.embedded import pid_alive
from ioc.errors import InvalidInput, IocError, SettingsError
from ioc.settings import Settings, load_settings

log = logging.getLogger(__name__)

LOG_LEVEL_ENV = "IOC_LOG_LEVEL"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMAT = "%(asctime)s %(levelname)-7s [{tag}] %(name)s: %(message)s"
MASK = "****"
SECRET_QUERY_WORDS = ("key", "token", "secret", "pass", "sig", "auth")
START_LOCK = "cli-start.lock"
DRY_RUN_LIMIT = 100

Handler = Callable[[argparse.Namespace], int]


def configure_logging(tag: str, level: str | None = None) -> None:
    """Log to stderr at IOC_LOG_LEVEL (default INFO), each line tagged with the process's role."""
    name = (level or os.environ.get(LOG_LEVEL_ENV) or "INFO").upper()
    if name not in LOG_LEVELS:
        raise SettingsError(
            f"invalid settings:\n  {LOG_LEVEL_ENV}: must be one of {', '.join(LOG_LEVELS)} (got {name!r})"
        )
    logging.basicConfig(level=name, format=LOG_FORMAT.format(tag=tag), stream=sys.stderr, force=True)


def mask_url(url: str) -> str:
    """The URL with its password (or lone user token) and secret-looking query values replaced by ****."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK
    netloc = parts.netloc
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if port is not None:
            host = f"{host}:{port}"
        user = parts.username or ""
        userinfo = f"{user}:{MASK}" if parts.password is not None else MASK
        netloc = f"{userinfo}@{host}"
    query = parts.query
    if query:
        pairs = []
        for pair in query.split("&"):
            name, sep, value = pair.partition("=")
            if sep and value and any(word in name.lower() for word in SECRET_QUERY_WORDS):
                value = MASK
            pairs.append(f"{name}{sep}{value}")
        query = "&".join(pairs)
    if netloc == parts.netloc and query == parts.query:
        return url
    text = f"{parts.scheme}://{netloc}{parts.path}"
    text += f"?{query}" if query else ""
    return text + (f"#{parts.fragment}" if parts.fragment else "")


def settings_lines(settings: Settings) -> list[str]:
    """The effective settings as `IOC_NAME=value` lines, secrets in URLs masked."""
    lines = []
    for name in type(settings).model_fields:
        value: Any = getattr(settings, name)
        if name == "redis_url" and value is None:
            lines.append(f"# IOC_REDIS_URL unset: embedded Redis in {settings.data_dir / 'redis'}")
        text = "" if value is None else str(value)
        if name.endswith("_url"):
            text = mask_url(text)
        lines.append(f"IOC_{name.upper()}={text}")
    lines.append(f"{LOG_LEVEL_ENV}={(os.environ.get(LOG_LEVEL_ENV) or 'INFO').upper()}")
    return lines


def stop_on_signals(stop: threading.Event, what: str) -> None:
    """Let SIGINT/SIGTERM set `stop` for a graceful end; a second signal gives up waiting."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("%s received: %s (send it again to force)", signal.Signals(signum).name, what)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def _start_lock(folder: Path) -> Iterator[None]:
    """Serialise embedded Redis start-up between ioc processes starting at the same moment (e.g. a Procfile)."""
    secure_data_folder(folder)
    with open(folder / START_LOCK, "w", opener=private_opener) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def resolve_redis(settings: Settings) -> Settings:
    """Pin the Redis URL for this process and its children, starting the embedded server once if needed."""
    if settings.redis_url is not None:
        return settings
    from ioc.embedded import ensure_embedded

    folder = secure_data_folder(settings.data_dir) / "redis"
    with _start_lock(folder):
        url = ensure_embedded(folder).url
    os.environ["IOC_REDIS_URL"] = url
    return settings.model_copy(update={"redis_url": url})


def _check_redis(settings: Settings) -> None:
    """Fail early, with the (masked) URL, when the configured Redis does not answer."""
    from ioc.store import connect

    client = connect(settings)
    try:
        client.ping()
    finally:
        client.close()


def _parse_start(text: str) -> datetime:
    """An ISO date-time; without an offset it stays naive, to be read in the city's time zone (`in_city_time`)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {text!r}") from exc


def in_city_time(moment: datetime, timezone: str) -> datetime:
    """The moment as given if it has an offset; else the same wall-clock time in the city's zone (city.json's
    `timezone`, Asia/Ho_Chi_Minh for Tam Kỳ)."""
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        return moment
    from zoneinfo import ZoneInfo

    return moment.replace(tzinfo=ZoneInfo(timezone))


def _positive_float(text: str) -> float:
    """A float above zero (argparse type)."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0: {text!r}")
    return value


def _positive_int(text: str) -> int:
    """An int above zero (argparse type)."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def cmd_run(args: argparse.Namespace) -> int:
    """Start everything (embedded Redis, aggregator, simulator, web) and stop it all on Ctrl-C."""
    from cli.supervisor import Supervisor

    settings = load_settings()
    if settings.redis_url is not None:
        _check_redis(settings)
    if not args.no_simulator:
        from simulators import load_scenario

        load_scenario(args.scenario)
    from cli.accounts import prepare_web

    for line in prepare_web(settings, default_accounts=True):  # migrations, session key; first run: accounts
        print(line, flush=True)

    def announce(text: str) -> None:
        print(text, flush=True)

    supervisor = Supervisor(
        settings,
        scenario=None if args.no_simulator else args.scenario,
        speed=args.speed,
        seed=args.seed,
        announce=announce,
    )
    return supervisor.run()


def cmd_aggregator(args: argparse.Namespace) -> int:
    """Consume the raw streams and write derived state until SIGINT/SIGTERM (the current batch finishes)."""
    from ioc.aggregator import run_aggregator

    settings = resolve_redis(load_settings())
    stop = threading.Event()
    stop_on_signals(stop, "finishing the current batch, then stopping")
    run_aggregator(settings, stop)
    return 0


def cmd_incidents_engine(args: argparse.Namespace) -> int:
    """Turn the alerts that matter into incidents until SIGINT/SIGTERM (the current batch finishes)."""
    from cli.accounts import prepare_database
    from ioc.incidents.engine import run_engine

    settings = resolve_redis(load_settings())
    prepare_database(settings, default_accounts=False)  # migrations first (no session key: not a web process)
    stop = threading.Event()
    stop_on_signals(stop, "finishing the current batch, then stopping")
    run_engine(settings, stop)
    return 0


def cmd_exercise_runner(args: argparse.Namespace) -> int:
    """Play every running exercise's scenario into its namespace until SIGINT/SIGTERM (positions saved)."""
    from cli.accounts import prepare_database
    from ioc.city import cached_city
    from ioc.db import open_database
    from ioc.store import connect
    from simulators.exercises import ExerciseRunner

    settings = resolve_redis(load_settings())
    prepare_database(settings, default_accounts=False)  # migrations first, as the incident engine does
    stop = threading.Event()
    stop_on_signals(stop, "saving where each exercise got to, then stopping")
    client = connect(settings)
    db = open_database(settings, check=False)
    try:
        runner = ExerciseRunner(
            client,
            db,
            cached_city(settings.city_dir),
            base=settings.namespace,
            member=f"exercise-runner:{settings.incident_consumer}",
            maxlen=settings.stream_maxlen,
        )
        log.info("exercise runner on namespace %r, database %s", settings.namespace, db.describe())
        runner.run_forever(stop)
    finally:
        client.close()
        db.close()
    return 0


def cmd_replayer(args: argparse.Namespace) -> int:
    """Build and play the wall's replays of history until SIGINT/SIGTERM (ioc/replay/runner.py)."""
    from ioc.city import cached_city
    from ioc.clock import TimeCheck
    from ioc.replay.runner import ReplayRunner
    from ioc.store import connect

    settings = resolve_redis(load_settings())
    stop = threading.Event()
    stop_on_signals(stop, "finishing the current step, then stopping")
    client = connect(settings)
    try:
        ReplayRunner(
            client,
            settings.namespace,
            cached_city(settings.city_dir),
            idle_s=settings.replay_idle_s,
            time_check=TimeCheck(settings.max_ahead_s, settings.max_behind_s),
            batch_size=settings.batch_size,
        ).run_forever(stop)
    finally:
        client.close()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Play a scenario into the raw streams, or print its events with --dry-run (no Redis involved)."""
    from ioc.city import cached_city
    from ioc.keys import Keys
    from ioc.store import connect
    from simulators import load_scenario
    from simulators.runner import dry_run, run_simulation

    settings = load_settings()
    city = cached_city(settings.city_dir)
    load_scenario(args.scenario, city=city)  # an unknown or malformed scenario fails before anything starts
    start = in_city_time(args.start, city.timezone) if args.start is not None else None
    seed: int = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    if args.seed is None:
        log.info("random seed %d (pass --seed %d to repeat this run)", seed, seed)
    if args.dry_run:
        # --limit and --duration each stop it (the first reached); with neither, DRY_RUN_LIMIT events.
        limit = args.limit if args.limit is not None else None if args.duration is not None else DRY_RUN_LIMIT
        dry_run(city, args.scenario, seed, limit, out=sys.stdout, start=start, duration_s=args.duration)
        return 0
    settings = resolve_redis(settings)
    stop = threading.Event()
    stop_on_signals(stop, "stopping the simulation")
    client = connect(settings)
    try:
        sent = run_simulation(
            client,
            Keys(settings.namespace),
            city,
            args.scenario,
            seed=seed,
            speed=args.speed,
            rate=args.rate,
            start=start,
            limit=args.limit,
            duration_s=args.duration,
            maxlen=settings.stream_maxlen,
            stop=stop,
        )
    finally:
        client.close()
    log.info("simulation %s ended: %d events sent", args.scenario, sent)
    return 0


GUNICORN_CONFIG = "python:cli.gunicorn_conf"  # found through the package, from a checkout or an installed wheel


def cmd_web(args: argparse.Namespace) -> int:
    """Replace this process with gunicorn serving the Dash app (settings from cli/gunicorn_conf.py)."""
    settings = load_settings()  # a bad setting fails here with exit 2, not inside gunicorn
    from cli.accounts import prepare_web

    prepare_web(settings, default_accounts=False)  # migrations and the session key, before any worker
    argv = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, "webapp:server"]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def cmd_redis(args: argparse.Namespace) -> int:
    """Run the embedded Redis in the foreground until SIGINT/SIGTERM, then shut it down (saving its data)."""
    from ioc.embedded import EmbeddedRedis

    settings = load_settings()
    server = EmbeddedRedis(secure_data_folder(settings.data_dir) / "redis")
    if server.is_answering():
        raise IocError(f"an embedded Redis already answers at {server.url}; stop it with `ioc redis-stop`")
    if settings.redis_url is not None:
        log.warning(
            "IOC_REDIS_URL is set (%s): other ioc commands use that, not this server", mask_url(settings.redis_url)
        )
    stop = threading.Event()
    stop_on_signals(stop, "shutting down Redis")
    with _start_lock(server.folder):
        server.start()
    print(f"embedded Redis at {server.url} (data in {server.folder}); Ctrl-C stops it", flush=True)
    try:
        while not stop.wait(0.5):
            process = server.process
            if process is not None and process.poll() is not None and not stop.wait(0.2):
                raise IocError(f"redis-server exited with code {process.returncode}; see {server.folder / 'redis.log'}")
    finally:
        server.stop()
    return 0


def _running_supervisor(data_dir: Path) -> int | None:
    """Pid of a live `ioc run` on this data folder, if any."""
    from cli.supervisor import running_supervisor

    return running_supervisor(data_dir)


def cmd_redis_stop(args: argparse.Namespace) -> int:
    """Shut down an embedded Redis left running in the background by a standalone command."""
    from ioc.embedded import EmbeddedRedis

    settings = load_settings()
    owner = _running_supervisor(settings.data_dir)
    if owner is not None:
        raise IocError(f"`ioc run` (pid {owner}) owns the embedded Redis in {settings.data_dir}; stop it with Ctrl-C")
    server = EmbeddedRedis(settings.data_dir / "redis")
    if not server.is_answering():
        print(f"no embedded Redis is running in {server.folder}")
        return 0
    server.stop()
    if server.is_answering():
        raise IocError(f"the embedded Redis at {server.url} did not stop")
    print(f"stopped the embedded Redis in {server.folder}")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Print the effective settings, secrets in URLs masked."""
    settings = load_settings()
    if args.json:
        data = {
            f"IOC_{name.upper()}": mask_url(str(value)) if name.endswith("_url") and value else value
            for name, value in ((n, getattr(settings, n)) for n in type(settings).model_fields)
        }
        print(json.dumps(data, default=str, ensure_ascii=False, indent=2))
    else:
        print("\n".join(settings_lines(settings)))
    return 0


def cmd_clock(args: argparse.Namespace) -> int:
    """Show the namespace's clock (real or declared simulated time), or return it to real time with --real."""
    from ioc.clock import declare_real, describe, read_timebase
    from ioc.keys import Keys
    from ioc.store import connect

    settings = resolve_redis(load_settings())
    keys = Keys(settings.namespace)
    client = connect(settings)
    try:
        if args.real:
            declare_real(client, keys)
            log.info("namespace %s runs on real time again", settings.namespace)
        clock = describe(read_timebase(client, keys))
    finally:
        client.close()
    if args.json:
        print(json.dumps({"namespace": settings.namespace, **clock}))
    elif clock["mode"] == "real":
        print(f"{settings.namespace}: real time (event times are checked against the time Redis receives them)")
    else:
        now = datetime.fromtimestamp(clock["now"], UTC).isoformat(timespec="seconds")
        print(
            f"{settings.namespace}: simulated time x{clock['speed']:g}, now {now}, declared by {clock['source']} "
            "(`ioc clock --real` returns to real time)"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ioc",
        description="Tam Kỳ integrated operations centre: city events from Redis streams on a wall dashboard.",
        epilog="Settings come from IOC_* environment variables (see `ioc settings`); logging from IOC_LOG_LEVEL.",
    )
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, type=str.upper, help="log level (default $IOC_LOG_LEVEL or INFO)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, text: str, **kwargs: Any) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=text, description=text, **kwargs)
        command.set_defaults(handler=handler)
        return command

    run = add("run", cmd_run, "start everything: embedded Redis, aggregator, simulator and web; Ctrl-C stops it all")
    run.add_argument("--scenario", default="normal-day", help="simulator scenario (default normal-day)")
    run.add_argument("--speed", type=_positive_float, default=60.0, help="simulated seconds per real second (60)")
    run.add_argument("--seed", type=int, default=None, help="simulator random seed")
    run.add_argument("--no-simulator", action="store_true", help="start no simulator (events come from elsewhere)")

    add("aggregator", cmd_aggregator, "consume the raw streams into derived state (one process per host)")
    add("incidents-engine", cmd_incidents_engine, "open and update incidents from the alerts streams")
    add("exercise-runner", cmd_exercise_runner, "play every running training exercise into its own namespace")
    add("replayer", cmd_replayer, "build and play the wall's replays of its retained history")

    simulate = add("simulate", cmd_simulate, "play a scenario's events into the raw streams")
    simulate.add_argument("scenario", metavar="SCENARIO", help="scenario name (see `ioc scenarios list`)")
    simulate.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed: the same seed gives the same events (default: random, logged)",
    )
    simulate.add_argument("--speed", type=_positive_float, default=1.0, help="simulated seconds per real second (1)")
    simulate.add_argument("--rate", type=_positive_float, default=None, help="events per second cap")
    simulate.add_argument(
        "--limit",
        type=_positive_int,
        default=None,
        help="stop after this many events (dry run: default 100 unless --duration is given)",
    )
    simulate.add_argument(
        "--duration", type=_positive_float, default=None, help="stop after this span of simulated seconds"
    )
    simulate.add_argument(
        "--start",
        type=_parse_start,
        default=None,
        help="simulated start time, ISO; no offset means the city's local time (default: the scenario's own start, "
        "else now; dry run: else a fixed Monday 05:00)",
    )
    simulate.add_argument("--dry-run", action="store_true", help="print the events as JSON lines; touch no Redis")

    add("web", cmd_web, "serve the dashboard with gunicorn (cli/gunicorn_conf.py)")
    add("redis", cmd_redis, "run the embedded Redis in the foreground")
    add("redis-stop", cmd_redis_stop, "stop an embedded Redis running in the background")

    clock = add("clock", cmd_clock, "show the namespace's clock: real time, or a simulator's declared time")
    clock.add_argument("--real", action="store_true", help="clear a simulator's declaration: back to real time")
    clock.add_argument("--json", action="store_true", help="print as JSON")

    settings = add("settings", cmd_settings, "print the effective settings (secrets masked)")
    settings.add_argument("--json", action="store_true", help="print as JSON")

    from cli.accounts import register

    register(add)  # db, users, display-token
    from cli.incidents import register as register_incidents

    register_incidents(add)  # incidents list, export
    from cli.exercises import register as register_exercises

    register_exercises(add)  # exercises list, start, pause, resume, stop, reset
    from cli.scenarios import register as register_scenarios

    register_scenarios(add)  # scenarios list, show, check
    from cli.city import register as register_city

    register_city(add)  # city generate
    from cli.deploy import register as register_deploy

    register_deploy(add)  # deploy nginx
    from cli.status import register as register_status

    register_status(add)  # status
    return parser


def stdout_reader_gone() -> bool:
    """Whether standard output is a pipe or socket whose reading end has closed (poll reports an error on it)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False


def exit_status(exc: IocError) -> int:
    """2 for a bad setting, argument, input or scenario (the caller's to fix), 1 for any other failure."""
    from simulators.errors import ScenarioError  # here, not at the top: every other command starts without it

    return 2 if isinstance(exc, SettingsError | InvalidInput | ScenarioError) else 1


# The commands whose processes measure themselves for Prometheus (ioc.metrics); the web's /metrics reads them all.
MEASURED_COMMANDS: Final = frozenset({"run", "aggregator", "incidents-engine", "exercise-runner", "replayer", "web"})
METRICS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client reads it once, when first imported


def prepare_metrics_folder(settings: Settings) -> None:
    """Let this process and its children share their metrics through files in the data folder's `metrics/` (unless
    PROMETHEUS_MULTIPROC_DIR already names a folder), and remove the files of processes that are gone. Runs before
    anything imports prometheus-client, which decides at import whether to use the files."""
    if "prometheus_client" in sys.modules:
        log.warning("prometheus-client was imported before its folder was set: this process's metrics stay private")
    folder = Path(os.environ.get(METRICS_ENV) or secure_data_folder(settings.data_dir) / "metrics")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in folder.glob("*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not pid_alive(int(pid)):
            path.unlink(missing_ok=True)
    os.environ[METRICS_ENV] = str(folder)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ioc` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    set_private_umask()  # what ioc and its children write (the data folder, exports of the audit log) stays private
    try:
        if args.log_level:
            os.environ[LOG_LEVEL_ENV] = args.log_level  # children of `ioc run` inherit it
        configure_logging(args.command)
        if args.command in MEASURED_COMMANDS:
            prepare_metrics_folder(load_settings())
        status = handler(args)
        sys.stdout.flush()  # a reader gone before the last buffered lines is met here, not at interpreter exit
        return status
    except BrokenPipeError:
        if not stdout_reader_gone():
            raise  # some other pipe or socket broke: a real error
        # The reader closed the pipe (`ioc simulate --dry-run | head`): nothing is wrong, end quietly. Python
        # flushes stdout once more at exit; pointing it at /dev/null keeps that flush from failing again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    except IocError as exc:
        print(f"ioc {args.command}: {exc}", file=sys.stderr)
        return exit_status(exc)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        print(f"ioc {args.command}: cannot reach Redis: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ioc {args.command}: interrupted", file=sys.stderr)
        return 130
