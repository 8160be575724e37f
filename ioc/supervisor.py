"""`ioc run`: start every process of the system as children and stop them all together, leaving nothing running.

Each child runs `python -m ioc.cli <command>` in its own process group, so a Ctrl-C in the terminal reaches only
the supervisor, which then stops the children in order: producers, aggregator and web first (SIGTERM, then
SIGKILL after a timeout, for the whole group), the embedded Redis last so it can save its data. The pids are
kept in `<data_dir>/ioc-run.json` while running, which also stops a second `ioc run` on the same folder.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from ioc.embedded import pid_alive
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

SignalHandler = Callable[[int, FrameType | None], Any] | int | None


@dataclass
class Child:
    """One supervised process: its role, command line and, once started, its Popen."""

    name: str
    argv: list[str]
    may_finish: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

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
    return pid if b"ioc" in cmdline else None  # a reused pid belongs to some other program


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
    for name in ("web", "simulator", "aggregator", "redis"):  # the stop order of a normal shutdown
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
    """Runs Redis (embedded, unless IOC_REDIS_URL is set), aggregator, simulator and web until told to stop."""

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
        return [self.python, "-m", "ioc.cli", *args]

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
        """Start everything, wait until stopped or a child dies, stop everything; 0 after a requested stop."""
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
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["IOC_DATA_DIR"] = str(self.data_dir)
        env["PYTHONUNBUFFERED"] = "1"
        redis_url = self.settings.redis_url or self._start_embedded_redis(env)
        if redis_url is None:
            return 0  # stopped during start-up
        env["IOC_REDIS_URL"] = redis_url
        wanted = [Child("aggregator", self._command("aggregator"))]
        if self.scenario is not None:
            argv = self._command("simulate", self.scenario, "--speed", repr(self.speed))
            if self.seed is not None:
                argv += ["--seed", str(self.seed)]
            wanted.append(Child("simulator", argv, may_finish=True))
        wanted.append(Child("web", self._command("web")))
        for child in wanted:
            if self._stop.is_set():
                return 0
            self._start(child, env)
            self.children.append(child)
            self._write_run_file()
        return self._watch()

    def _start(self, child: Child, env: dict[str, str], *, quiet: bool = False) -> None:
        """Start one child in its own process group (so a terminal Ctrl-C reaches only the supervisor)."""
        stdout = subprocess.DEVNULL if quiet else None
        child.process = subprocess.Popen(child.argv, env=env, stdin=subprocess.DEVNULL, stdout=stdout, process_group=0)
        log.info("started %s (pid %d)", child.name, child.process.pid)

    def _start_embedded_redis(self, env: dict[str, str]) -> str | None:
        """Start `ioc redis` as a child and return the server's URL once it answers (None if stopped meanwhile)."""
        from ioc.embedded import EmbeddedRedis

        server = EmbeddedRedis(self.data_dir / "redis")
        if server.is_answering():
            log.warning("an embedded Redis already runs in %s; using it and leaving it running", server.folder)
            return server.url
        child = Child("redis", self._command("redis"))
        redis_env = dict(env)
        redis_env.pop("IOC_REDIS_URL", None)
        self._start(child, redis_env, quiet=True)  # its "Ctrl-C stops it" banner is for standalone use
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
        """Wait for the web server to answer, announce the URL, then watch the children until told to stop."""
        url = browser_url(self.settings.web_host, self.settings.web_port)
        deadline = time.monotonic() + WEB_READY_TIMEOUT_S
        announced = False
        watched = list(self.children)
        if self.redis_child is not None:
            watched.append(self.redis_child)
        while not self._stop.is_set():
            for child in list(watched):
                assert child.process is not None
                code = child.process.poll()
                if code is None:
                    continue
                if code == 0 and child.may_finish:
                    log.info("%s finished", child.name)
                    watched.remove(child)
                    continue
                log.error("%s (pid %d) %s; stopping everything", child.name, child.process.pid, _describe_exit(code))
                return 1
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

    def _write_run_file(self) -> None:
        """Record the supervisor's and children's pids (atomically) for tools and a second `ioc run`."""
        started = [c for c in ([self.redis_child] if self.redis_child else []) + self.children if c.process]
        data = {
            "supervisor": os.getpid(),
            "children": {c.name: c.process.pid for c in started if c.process is not None},
        }
        path = self.data_dir / RUN_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
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
        log.info("all processes stopped")
