"""`ioc run`: start every process of the system as children, keep them running, and stop them all together.

Each child runs `python -m cli <command>` in its own process group, so a Ctrl-C in the terminal reaches only
the supervisor, which then stops the children in order: producers, aggregator and web first (SIGTERM, then
SIGKILL after a timeout, for the whole group), the embedded Redis last so it can save its data. A child that dies
meanwhile is restarted on its own after a growing delay (`RestartPolicy`) while the others keep running; only a
stop request ends the run. The pids are kept in `<data_dir>/ioc-run.json` while running (rewritten after each
restart), which also stops a second `ioc run` on the same folder.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from ioc.datadir import private_opener, secure_data_folder
from ioc.embedded import EmbeddedRedis, pid_alive
from ioc.errors import IocError
from ioc.settings import Settings

log = logging.getLogger(__name__)

RUN_FILE = "ioc-run.json"
POLL_S = 0.2
REDIS_READY_TIMEOUT_S = 30.0
WEB_READY_TIMEOUT_S = 120.0
CHILD_STOP_TIMEOUT_S = 15.0
REDIS_STOP_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 2.0
DEATHS_REPORT_WINDOW_S = 300.0  # the death count in a restart's log line covers this span

SignalHandler = Callable[[int, FrameType | None], Any] | int | None


@dataclass
class RestartPolicy:
    """When to restart a child that died: a delay doubling from `first_delay_s` up to `max_delay_s`, back to the
    first once the child stayed up `reset_after_s`; `failing_deaths` deaths within `failing_window_s` make it
    failing repeatedly, and it is then retried at the longest delay."""

    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    reset_after_s: float = 60.0
    failing_deaths: int = 5
    failing_window_s: float = 60.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    restarts: int = 0
    _deaths: deque[float] = field(default_factory=deque, repr=False)
    _next_delay_s: float | None = field(default=None, repr=False)
    _started_at: float | None = field(default=None, repr=False)

    def started(self) -> None:
        """Note that the child (re)started now."""
        self._started_at = self.clock()

    def died(self) -> float:
        """Note that the child died now; the seconds to wait before restarting it."""
        now = self.clock()
        stayed_up = self._started_at is not None and now - self._started_at >= self.reset_after_s
        if self._next_delay_s is None or stayed_up:
            self._next_delay_s = self.first_delay_s
        self._deaths.append(now)
        keep_s = max(self.failing_window_s, DEATHS_REPORT_WINDOW_S)
        while now - self._deaths[0] > keep_s:
            self._deaths.popleft()
        self.restarts += 1
        delay = self.max_delay_s if self.failing else self._next_delay_s
        self._next_delay_s = min(delay * 2, self.max_delay_s)
        return delay

    def deaths_within(self, span_s: float) -> int:
        """How many times the child died in the last span_s seconds."""
        now = self.clock()
        return sum(1 for moment in self._deaths if now - moment <= span_s)

    @property
    def failing(self) -> bool:
        """Whether the child died `failing_deaths` times within `failing_window_s`."""
        return self.deaths_within(self.failing_window_s) >= self.failing_deaths


@dataclass
class Child:
    """One supervised process: its role, command line, environment and, while it runs, its Popen."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict, repr=False)
    may_finish: bool = False
    quiet: bool = False
    policy: RestartPolicy = field(default_factory=RestartPolicy, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    restart_at: float | None = None  # time.monotonic() at which a child that died is started again

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.poll() is None


def _group_alive(pgid: int) -> bool:
    """Whether any process is left in a process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    """Send a signal to a whole process group, ignoring a group that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _describe_exit(code: int) -> str:
    """'exited with code N' or 'was killed by SIGNAME'."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def running_supervisor(data_dir: Path) -> int | None:
    """Pid of a live `ioc run` on this data folder, according to its run file, or None."""
    path = data_dir / RUN_FILE
    try:
        pid = int(json.loads(path.read_text())["supervisor"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or not pid_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    return pid if runs_the_ioc_command(cmdline) else None  # a reused pid belongs to some other program


def runs_the_ioc_command(cmdline: bytes) -> bool:
    """Whether a process's command line (/proc/<pid>/cmdline) may be the `ioc` command: it names ioc (the installed
    script) or runs `python -m cli`, as `ioc run` starts its children."""
    argv = cmdline.split(b"\0")
    return b"ioc" in cmdline or any(arg == b"-m" and after == b"cli" for arg, after in itertools.pairwise(argv))


def _started_for(pid: int, data_dir: Path) -> bool:
    """Whether a live process was started by an `ioc run` on this data folder (its environment says so)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return pid_alive(pid) and f"IOC_DATA_DIR={data_dir}".encode() in environ.split(b"\0")


def stop_leftovers(data_dir: Path) -> list[str]:
    """Stop the children a killed `ioc run` on this folder left running (from its run file); their names."""
    path = data_dir / RUN_FILE
    try:
        recorded = {str(k): int(v) for k, v in json.loads(path.read_text())["children"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    left = {name: pid for name, pid in recorded.items() if _started_for(pid, data_dir)}
    if left:
        log.warning(
            "a previous `ioc run` on %s was killed and left %s running; stopping them",
            data_dir,
            ", ".join(f"{name} (pid {pid})" for name, pid in left.items()),
        )
    stop_order = (
        "web",
        "simulator",
        "replayer",
        "exercise-runner",
        "incidents-engine",
        "aggregator",
        "redis",
    )  # as a shutdown
    for name in stop_order:
        pid = left.get(name)
        if pid is None:
            continue
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + REDIS_STOP_TIMEOUT_S
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        _signal_group(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return list(left)


def browser_url(host: str, port: int) -> str:
    """The address to open for a bind host (a wildcard bind is opened on loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def check_port_free(host: str, port: int) -> None:
    """Raise IocError when the web port cannot be bound, before anything is started."""
    try:
        probe = socket.create_server((host, port))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise IocError(f"cannot listen on {host}:{port} ({reason}); set IOC_WEB_PORT to a free port") from None
    probe.close()


def web_status(url: str) -> int | None:
    """HTTP status of GET url, or None when nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


class Supervisor:
    """Runs Redis (embedded, unless IOC_REDIS_URL is set), aggregator, incident engine, exercise runner, simulator
    and web until told to stop."""

    def __init__(
        self,
        settings: Settings,
        *,
        scenario: str | None,
        speed: float,
        seed: int | None,
        announce: Callable[[str], None],
        python: str = sys.executable,
    ) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self.scenario = scenario
        self.speed = speed
        self.seed = seed
        self.announce = announce
        self.python = python
        self.children: list[Child] = []
        self.redis_child: Child | None = None
        self._stop = threading.Event()
        self._hurry = threading.Event()

    def _command(self, *args: str) -> list[str]:
        """Command line running an ioc subcommand with this interpreter."""
        return [self.python, "-m", "cli", *args]

    def request_stop(self) -> None:
        """Ask the run loop to stop every child and return (safe from a signal handler)."""
        if self._stop.is_set():
            self._hurry.set()
        self._stop.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """First SIGINT/SIGTERM: stop gracefully; a second one: kill the children now."""
        if self._stop.is_set():
            log.warning("%s again: killing the children now", signal.Signals(signum).name)
        else:
            log.info("%s received: stopping every process", signal.Signals(signum).name)
        self.request_stop()

    def run(self) -> int:
        """Start everything, restart any child that dies until told to stop, stop everything; 0 when stopped."""
        previous: dict[signal.Signals, SignalHandler] = {}
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, self._on_signal)
        try:
            return self._run()
        finally:
            try:
                self._shutdown()
            finally:
                (self.data_dir / RUN_FILE).unlink(missing_ok=True)
                for signum, handler in previous.items():
                    signal.signal(signum, handler)

    def _run(self) -> int:
        """The start-up sequence and the watch loop."""
        other = running_supervisor(self.data_dir)
        if other is not None:
            raise IocError(f"`ioc run` is already running on {self.data_dir} (pid {other})")
        stop_leftovers(self.data_dir)
        check_port_free(self.settings.web_host, self.settings.web_port)
        secure_data_folder(self.data_dir)
        env = dict(os.environ)
        env["IOC_DATA_DIR"] = str(self.data_dir)
        env["PYTHONUNBUFFERED"] = "1"
        redis_url = self.settings.redis_url or self._start_embedded_redis(env)
        if redis_url is None:
            return 0  # stopped during start-up
        env["IOC_REDIS_URL"] = redis_url
        wanted = [
            Child("aggregator", self._command("aggregator"), env),
            Child("incidents-engine", self._command("incidents-engine"), env),
            Child("exercise-runner", self._command("exercise-runner"), env),
            Child("replayer", self._command("replayer"), env),
        ]
        if self.scenario is not None:
            argv = self._command("simulate", self.scenario, "--speed", repr(self.speed))
            if self.seed is not None:
                argv += ["--seed", str(self.seed)]
            wanted.append(Child("simulator", argv, env, may_finish=True))
        wanted.append(Child("web", self._command("web"), env))
        for child in wanted:
            if self._stop.is_set():
                return 0
            self._start(child)
            self.children.append(child)
            self._write_run_file()
        return self._watch()

    def _start(self, child: Child) -> None:
        """Start one child in its own process group (so a terminal Ctrl-C reaches only the supervisor)."""
        stdout = subprocess.DEVNULL if child.quiet else None
        child.process = subprocess.Popen(
            child.argv, env=child.env, stdin=subprocess.DEVNULL, stdout=stdout, process_group=0
        )
        child.policy.started()
        log.info("started %s (pid %d)", child.name, child.process.pid)

    def _start_embedded_redis(self, env: dict[str, str]) -> str | None:
        """Start `ioc redis` as a child and return the server's URL once it answers (None if stopped meanwhile)."""
        server = EmbeddedRedis(self.data_dir / "redis")
        if server.is_answering():
            log.warning("an embedded Redis already runs in %s; using it and leaving it running", server.folder)
            return server.url
        redis_env = dict(env)
        redis_env.pop("IOC_REDIS_URL", None)
        # quiet: its "Ctrl-C stops it" banner is for standalone use
        child = Child("redis", self._command("redis"), redis_env, quiet=True)
        self._start(child)
        self.redis_child = child
        self._write_run_file()
        deadline = time.monotonic() + REDIS_READY_TIMEOUT_S
        while not server.is_answering():
            if self._stop.wait(POLL_S):
                return None
            if child.process is not None and child.process.poll() is not None:
                raise IocError(f"the embedded Redis {_describe_exit(child.process.returncode)}; see {server.folder}")
            if time.monotonic() > deadline:
                raise IocError(f"the embedded Redis did not answer within {REDIS_READY_TIMEOUT_S:.0f} s")
        return server.url

    def _watch(self) -> int:
        """Wait for the web server to answer, announce the URL, then restart children that die until told to stop."""
        url = browser_url(self.settings.web_host, self.settings.web_port)
        deadline = time.monotonic() + WEB_READY_TIMEOUT_S
        announced = False
        watched = list(self.children)
        if self.redis_child is not None:
            watched.append(self.redis_child)
        while not self._stop.is_set():
            for child in list(watched):
                if child.process is None:
                    if child.restart_at is not None and time.monotonic() >= child.restart_at:
                        self._restart(child)
                    continue
                code = child.process.poll()
                if code is None:
                    continue
                if code == 0 and child.may_finish:
                    log.info("%s finished", child.name)
                    watched.remove(child)
                    continue
                self._died(child, code)
            if not announced:
                status = web_status(url)
                if status is not None:
                    announced = True
                    if status >= 500:
                        log.warning("the web server answers %s with HTTP %d", url, status)
                    self.announce(f"IOC dashboard running: open {url}  (Ctrl-C stops everything)")
                elif time.monotonic() > deadline:
                    log.error("the web server did not answer at %s within %.0f s", url, WEB_READY_TIMEOUT_S)
                    return 1
            self._stop.wait(POLL_S)
        return 0

    def _died(self, child: Child, code: int) -> None:
        """Clear what a dead child left in its process group and schedule its restart, saying how it ended."""
        assert child.process is not None
        pid = child.process.pid
        _signal_group(pid, signal.SIGKILL)  # e.g. the workers of a gunicorn master that was killed alone
        delay = self._schedule_restart(child)
        self._write_run_file()
        ended = f"{child.name} (pid {pid}) {_describe_exit(code)}"
        if child.policy.failing:
            log.error(
                "%s is failing repeatedly: %d deaths within %.0f s, the last: %s; "
                "the rest stays up; retrying every %.0f s",
                child.name,
                child.policy.deaths_within(child.policy.failing_window_s),
                child.policy.failing_window_s,
                ended,
                delay,
            )
        else:
            log.warning(
                "%s; restart %d, %d death(s) in the last %.0f min; next in %.0f s",
                ended,
                child.policy.restarts,
                child.policy.deaths_within(DEATHS_REPORT_WINDOW_S),
                DEATHS_REPORT_WINDOW_S / 60,
                delay,
            )

    @staticmethod
    def _schedule_restart(child: Child) -> float:
        """Forget a dead child's process and set when to start it again; the delay in seconds."""
        child.process = None
        delay = child.policy.died()
        child.restart_at = time.monotonic() + delay
        return delay

    def _restart(self, child: Child) -> None:
        """Start a child that died again (the embedded Redis on the same folder, so its URL stays the same)."""
        child.restart_at = None
        if child is self.redis_child:
            self._stop_orphaned_redis()
        try:
            self._start(child)
        except OSError as exc:  # e.g. out of processes or memory: try again later, like a child that died at once
            delay = self._schedule_restart(child)
            log.error("could not restart %s (%s); next try in %.0f s", child.name, exc, delay)
            return
        self._write_run_file()

    def _stop_orphaned_redis(self) -> None:
        """Stop a redis-server that outlived its killed `ioc redis` (its own process group), so a new one can start."""
        server = EmbeddedRedis(self.data_dir / "redis")
        if server.is_answering():
            log.warning(
                "the embedded redis-server (pid %s) outlived its `ioc redis` process; stopping it (it saves its data)",
                server.pid(),
            )
            server.stop()

    def _write_run_file(self) -> None:
        """Record the supervisor's and children's pids (atomically) for tools and a second `ioc run`."""
        started = [c for c in ([self.redis_child] if self.redis_child else []) + self.children if c.process]
        data = {
            "supervisor": os.getpid(),
            "children": {c.name: c.process.pid for c in started if c.process is not None},
        }
        path = self.data_dir / RUN_FILE
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", opener=private_opener) as handle:
            handle.write(json.dumps(data, indent=2))
        tmp.replace(path)

    def _stop_children(self, children: list[Child], signum: signal.Signals, timeout_s: float, *, group: bool) -> None:
        """Signal the children (or their groups), wait up to timeout_s, SIGKILL the groups of any left, reap all."""
        started = [c for c in children if c.process is not None]
        for child in started:
            assert child.process is not None
            if child.process.poll() is None:
                if group:
                    _signal_group(child.process.pid, signum)
                else:
                    child.process.send_signal(signum)
        deadline = time.monotonic() + timeout_s
        while any(c.running for c in started) and time.monotonic() < deadline and not self._hurry.is_set():
            time.sleep(POLL_S)
        for child in started:
            assert child.process is not None
            if child.process.poll() is None:
                log.warning("%s did not stop in time; killing it", child.name)
            _signal_group(child.process.pid, signal.SIGKILL)  # also reaches anything left in its group
            child.process.wait()
        for child in started:
            assert child.process is not None
            deadline = time.monotonic() + 5.0
            while _group_alive(child.process.pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def _shutdown(self) -> None:
        """Stop web, simulator and aggregator, then the embedded Redis (it saves its data on the way out)."""
        if any(c.running for c in self.children):
            log.info("stopping %s", ", ".join(c.name for c in self.children if c.running))
        self._stop_children(list(reversed(self.children)), signal.SIGTERM, CHILD_STOP_TIMEOUT_S, group=True)
        if self.redis_child is not None:
            log.info("stopping the embedded Redis")
            # Only the `ioc redis` process: it asks redis-server to SHUTDOWN, which saves before exiting.
            self._stop_children([self.redis_child], signal.SIGTERM, REDIS_STOP_TIMEOUT_S, group=False)
            self._stop_orphaned_redis()  # left by an `ioc redis` killed while the run went on
        log.info("all processes stopped")
