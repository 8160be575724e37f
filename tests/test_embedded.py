"""The embedded Redis: start and stop in a folder, data kept across restarts, attach, and no process left behind."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ioc.embedded import EmbeddedRedis, ensure_embedded, pid_alive
from ioc.keys import Keys
from ioc.store import connect_url


def wait_gone(pid: int, timeout_s: float = 10.0) -> bool:
    """Poll until the process is gone; True if it went within the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def server_pid(folder: Path) -> int:
    """Pid of the redis-server of a folder, from its pid file."""
    return int((folder / "redis.pid").read_text().strip())


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """A data folder whose server, if any test leaves one running, is shut down afterwards."""
    path = tmp_path / "redis"
    yield path
    leftover = EmbeddedRedis(path)
    if leftover.is_answering():
        leftover.stop()


def test_start_and_stop(folder: Path) -> None:
    server = EmbeddedRedis(folder)
    assert not server.is_answering()
    server.start()
    assert server.process is not None
    pid = server.process.pid
    client = connect_url(server.url)
    assert client.ping()
    assert client.info("server")["redis_version"].startswith("6.2")
    client.close()
    server.stop()
    assert server.process is None
    assert not server.is_answering()
    assert wait_gone(pid), f"redis-server {pid} still running after stop()"


def test_stream_persists_across_restart(folder: Path) -> None:
    server = EmbeddedRedis(folder)
    server.start()
    client = connect_url(server.url)
    entry_id = client.xadd(Keys("t").events("traffic"), {"type": "traffic.speed.measured", "v": "42"})
    client.close()
    server.stop()

    again = EmbeddedRedis(folder)
    again.start()
    client = connect_url(again.url)
    try:
        assert client.xrange(Keys("t").events("traffic")) == [(entry_id, {"type": "traffic.speed.measured", "v": "42"})]
    finally:
        client.close()
        again.stop()


def test_restart_after_a_crash_leaves_a_stale_socket(folder: Path) -> None:
    server = EmbeddedRedis(folder)
    server.start()
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    server.process = None
    assert server.socket_path.exists()
    assert not server.is_answering()

    again = EmbeddedRedis(folder)
    again.start()
    assert again.is_answering()
    again.stop()


def test_ensure_embedded_starts_in_background_then_attaches(folder: Path) -> None:
    first = ensure_embedded(folder)
    assert first.process is None, "a daemonized server is not our child"
    assert first.is_answering()
    pid = server_pid(folder)
    assert pid_alive(pid)
    client = connect_url(first.url)
    client.hset(Keys("t").heartbeat(), "probe", "1")
    client.close()

    second = ensure_embedded(folder)
    assert second.url == first.url
    assert server_pid(folder) == pid, "attaching must not start a second server"
    client = connect_url(second.url)
    assert client.hget(Keys("t").heartbeat(), "probe") == "1"
    client.close()

    second.stop()
    assert not second.is_answering()
    assert wait_gone(pid), f"background redis-server {pid} still running after stop()"


def test_stop_when_nothing_runs_is_harmless(folder: Path) -> None:
    EmbeddedRedis(folder).stop()
    assert not folder.exists() or not (folder / "redis.sock").exists()


def test_socket_is_private(folder: Path) -> None:
    server = EmbeddedRedis(folder)
    server.start()
    try:
        mode = os.stat(server.socket_path).st_mode & 0o777
        assert mode & 0o077 == 0, f"socket mode {oct(mode)} lets other users in"
        with pytest.raises(redis.ResponseError):
            connect_url(server.url).execute_command("NO-SUCH-COMMAND")
    finally:
        server.stop()
