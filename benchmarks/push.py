"""Push streams held by one web worker: N screens' event streams open on `/push/wall` under `ioc web` (gunicorn,
gthread, one worker), a new data version every second; delivery latency (version bumped to event read, per screen),
the web's CPU per screen, its memory per stream, and a normal request's latency meanwhile.

`python -m benchmarks.push --screens 100,400 --rounds 20` (embedded Redis and a fresh data folder of its own).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from ioc.db import open_database
from ioc.embedded import EmbeddedRedis
from ioc.identity.tokens import create_display_token
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url

IOC = Path(sys.executable).parent / "ioc"
TICKS = os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> list[int]:
    """The process and its descendants (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def _cpu_s(pids: list[int]) -> float:
    """User and system CPU seconds of these processes."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def _rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes, MB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cookie(port: int, secret: str) -> str:
    """The session cookie of a screen signed in with a display token's link."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", f"/display?token={secret}")
    response = connection.getresponse()
    response.read()
    connection.close()
    return "; ".join(v.split(";", 1)[0] for k, v in response.getheaders() if k.lower() == "set-cookie")


def _open_stream(port: int, cookie: str, timeout_s: float = 10.0) -> socket.socket | None:
    """An open push stream (its headers read, non-blocking after), or None if refused."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    sock.sendall(f"GET /push/wall HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


def _request_ms(port: int, count: int = 20) -> float:
    """Median latency of /healthz, ms."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
            reply.read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(screens: int, rounds: int, redis: EmbeddedRedis, folder: Path) -> dict[str, Any]:
    """One web worker holding `screens` streams: see the module's note."""
    keys = Keys(f"push{screens}")
    data = folder / f"data{screens}"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update(
        IOC_DATA_DIR=str(data),
        IOC_REDIS_URL=redis.url,
        IOC_NAMESPACE=keys.namespace,
        IOC_WEB_WORKERS="1",
        IOC_WEB_PORT=str(port),
        IOC_PUSH_STREAMS=str(screens),
        IOC_TILE_URL="",
    )
    web = subprocess.Popen([str(IOC), "web"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = connect_url(redis.url)
    socks: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        database = open_database(Settings(data_dir=data))
        try:
            _, secret = create_display_token(database, f"bench-{screens}", actor="benchmark")
        finally:
            database.close()
        cookie = _cookie(port, secret)
        base_ms = _request_ms(port)
        rss_before = _rss_mb(_tree(web.pid))
        for _ in range(screens):
            sock = _open_stream(port, cookie)
            if sock is None:
                break
            socks.append(sock)
        held = len(socks)
        selector = selectors.DefaultSelector()
        for index, sock in enumerate(socks):
            selector.register(sock, selectors.EVENT_READ, index)
        time.sleep(1.0)
        for key, _ in selector.select(timeout=0.1):  # the streams' first lines
            key.fileobj.recv(65536)  # type: ignore[union-attr]
        rss_after = _rss_mb(_tree(web.pid))
        pids = _tree(web.pid)
        idle_from = _cpu_s(pids)
        time.sleep(5.0)
        idle_cpu = (_cpu_s(pids) - idle_from) / 5.0
        latencies: list[float] = []
        missed = 0
        busy_from, busy_started = _cpu_s(pids), time.monotonic()
        for _ in range(rounds):
            bumped = time.perf_counter()
            client.hincrby(keys.stats("traffic"), "version", 1)
            waiting = set(range(held))
            until = time.monotonic() + 1.0
            while waiting and time.monotonic() < until:
                for key, _ in selector.select(timeout=max(0.0, until - time.monotonic())):
                    text = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if b"event: change" in text and key.data in waiting:
                        waiting.discard(key.data)
                        latencies.append((time.perf_counter() - bumped) * 1000)
            missed += len(waiting)
            time.sleep(max(0.0, until - time.monotonic()))
        busy_cpu = (_cpu_s(pids) - busy_from) / (time.monotonic() - busy_started)
        loaded_ms = _request_ms(port)
        latencies.sort()
        return {
            "screens": screens,
            "held": held,
            "deliveries": len(latencies),
            "missed": missed,
            "p50_ms": round(latencies[len(latencies) // 2], 1) if latencies else None,
            "p95_ms": round(latencies[int(len(latencies) * 0.95)], 1) if latencies else None,
            "cpu_idle_pct": round(idle_cpu * 100, 1),
            "cpu_1_change_per_s_pct": round(busy_cpu * 100, 1),
            "cpu_ms_per_screen_per_change": round(busy_cpu * 1000 / max(held, 1), 3),
            "rss_mb_per_stream": round((rss_after - rss_before) / max(held, 1), 3),
            "healthz_ms_before": round(base_ms, 2),
            "healthz_ms_with_streams": round(loaded_ms, 2),
        }
    finally:
        for sock in socks:
            sock.close()
        web.terminate()
        web.wait(timeout=30)
        client.close()


def main(argv: list[str] | None = None) -> int:
    """Run the measurement for each screen count and print one line each (and JSON with --json)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.push", description=__doc__)
    parser.add_argument("--screens", default="100,400", help="comma-separated screen counts (default 100,400)")
    parser.add_argument("--rounds", type=int, default=20, help="data changes, one a second (default 20)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        redis = EmbeddedRedis(folder / "redis")
        redis.start()
        try:
            for count in (int(n) for n in args.screens.split(",")):
                figures = measure(count, args.rounds, redis, folder)
                results.append(figures)
                print(" ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
        finally:
            redis.stop()
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
