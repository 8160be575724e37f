"""The web server as production runs it, for tests: `ioc web` (migrations and the session key, then gunicorn with
cli/gunicorn_conf.py, its worker warm-up hook and gthread workers) as a child process on a port of its own, started
in the test's own folder, outside the source checkout, as an installed package runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

IOC = Path(sys.executable).with_name("ioc")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(data_dir: Path, **values: str) -> dict[str, str]:
    """The caller's environment without its IOC_* variables (a developer's settings must not leak in), with a data
    folder of the test's own and `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update({"IOC_DATA_DIR": str(data_dir), "IOC_TILE_URL": "", **values})
    return env


@dataclass
class WebServer:
    """`ioc web` serving the app with the settings in `env`, restartable on the same port (our child process)."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the app."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until a worker answers (the login page: public, no data)."""
        env = {**self.env, "IOC_WEB_HOST": "127.0.0.1", "IOC_WEB_PORT": str(self.port)}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(IOC), "web"], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=self.log.parent
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                raise AssertionError(f"ioc web exited with {self.process.returncode}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                self.stop()  # the fixture's teardown will not run: leave no server behind
                raise AssertionError(f"ioc web did not answer on port {self.port} within {timeout} s")
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/login", timeout=5) as response:
                return bool(response.status == 200)
        except OSError:  # refused, reset, or an HTTP error
            return False

    def log_text(self) -> str:
        """What the server logged so far (its last 4000 characters)."""
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        """Stop the server (our child) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
