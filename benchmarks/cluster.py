"""A local Redis Cluster for the benchmarks and the tests: three masters (no replicas) on free loopback ports in a
temporary folder, joined with `redis-cli --cluster create`, each node stoppable and restartable on the same port.
Needs the `redis-server` and `redis-cli` of Redis 7 (the CI machine's Redis service brings them): `available()` says
whether they are there (tests skip without them, tests/cluster.py; the cluster benchmark is left out)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import redis

REDIS_SERVER: Final = shutil.which("redis-server", path="/usr/bin:/usr/local/bin") or shutil.which("redis-server")
REDIS_CLI: Final = shutil.which("redis-cli", path="/usr/bin:/usr/local/bin") or shutil.which("redis-cli")
START_TIMEOUT_S: Final = 20.0


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Loopback ports free now whose cluster bus ports (+10000) are free too."""
    ports: list[int] = []
    candidate = 21000 + (time.monotonic_ns() // 1000) % 15000
    for _ in range(2000):
        candidate = 21000 + (candidate - 21000 + 7) % 15000
        if candidate not in ports and _free(candidate) and _free(candidate + 10000):
            ports.append(candidate)
            if len(ports) == count:
                return ports
    raise RuntimeError("no free loopback ports for a cluster")


@dataclass
class LocalCluster:
    """Three masters on 127.0.0.1; `url` names the first (any node will do for a cluster client)."""

    folder: Path
    ports: list[int]
    aof: bool = False
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=5)

    def start_node(self, port: int) -> None:
        assert REDIS_SERVER is not None
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else ["--appendonly", "no"]
        self.processes[port] = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(folder / "nodes.conf"),
                "--cluster-node-timeout",
                "5000",
                "--dir",
                str(folder),
                "--save",
                "",
                *persistence,
                "--logfile",
                str(folder / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if self.node(port).ping():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {port} did not start")

    def stop_node(self, port: int) -> None:
        """SIGTERM (a clean shutdown: with AOF on, everything acknowledged is on disk), then wait."""
        process = self.processes.pop(port, None)
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def wait_ok(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until every node says cluster_state:ok."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = []
            for port in self.ports:
                try:
                    states.append(self.node(port).cluster("info")["cluster_state"])
                except redis.RedisError:
                    states.append("down")
            if all(state == "ok" for state in states):
                return
            time.sleep(0.1)
        raise RuntimeError(f"cluster not ok after {timeout_s} s")

    def start(self) -> None:
        assert REDIS_CLI is not None
        for port in self.ports:
            self.start_node(port)
        subprocess.run(
            [
                REDIS_CLI,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_ok()

    def stop(self) -> None:
        for port in list(self.processes):
            self.stop_node(port)


def available() -> bool:
    """Whether redis-server and redis-cli are installed, so a local cluster can start."""
    return REDIS_SERVER is not None and REDIS_CLI is not None


@contextlib.contextmanager
def local_cluster(folder: Path, *, aof: bool = False) -> Iterator[LocalCluster]:
    """A started three-master cluster, stopped (every node) when the block ends."""
    if not available():
        raise RuntimeError("a local cluster needs redis-server and redis-cli (Redis 7)")
    cluster = LocalCluster(folder, free_ports(3), aof=aof)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
