"""`ioc run` keeps the IOC up: a child that dies is restarted on its own while the others keep running."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from cli.supervisor import Child, RestartPolicy, Supervisor, runs_the_ioc_command
from ioc.embedded import EmbeddedRedis, pid_alive
from ioc.keys import DOMAINS, Keys
from ioc.settings import Settings
from ioc.store import connect_url
from tests import test_cli
from tests.test_cli import (
    CITY_FILES,
    RUN_CHILDREN,
    assert_nothing_left,
    free_port,
    http_status,
    require,
    run_file_children,
    start_run,
    wait_for,
)

data_dir = test_cli.data_dir  # the fixture: a fresh data folder; processes still using it afterwards are killed


@pytest.mark.parametrize(
    ("cmdline", "ioc"),
    [
        (b"/srv/.venv/bin/python\0/srv/.venv/bin/ioc\0run\0", True),  # the installed script
        (b"/srv/.venv/bin/python\0-m\0cli\0run\0", True),  # how `ioc run` starts its children
        (b"/usr/bin/python3\0-m\0http.server\0", False),  # a reused pid: some other program
    ],
)
def test_a_live_supervisor_is_known_by_its_command_line(cmdline: bytes, ioc: bool) -> None:
    assert runs_the_ioc_command(cmdline) is ioc


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_restart_delay_doubles_to_a_cap_and_resets_after_a_long_run() -> None:
    clock = FakeClock()
    policy = RestartPolicy(clock=clock)
    delays = []
    for _ in range(7):
        policy.started()
        clock.now += 20  # dies after 20 s each time: at most 3 deaths a minute, never "failing repeatedly"
        delays.append(policy.died())
        assert not policy.failing
        clock.now += delays[-1]
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert policy.restarts == 7
    policy.started()
    clock.now += 61  # stayed up long enough to count as healthy again
    assert policy.died() == 1
    policy.started()
    clock.now += 1
    assert policy.died() == 2


def test_five_deaths_within_a_minute_is_failing_repeatedly_and_retried_at_the_cap() -> None:
    clock = FakeClock()
    policy = RestartPolicy(clock=clock)
    delays = []
    for death in range(1, 6):
        policy.started()
        clock.now += 1
        delays.append(policy.died())
        assert policy.failing == (death == 5)
        clock.now += delays[-1]
    assert delays == [1, 2, 4, 8, 30]
    assert policy.deaths_within(60) == 5
    policy.started()
    clock.now += 1
    assert policy.died() == 30
    assert policy.failing
    policy.started()
    clock.now += 61  # up for a minute: the old deaths left the window and the delay starts over
    assert policy.died() == 1
    assert not policy.failing


def python_child(name: str, code: str, *, may_finish: bool = False, policy: RestartPolicy | None = None) -> Child:
    """A child running a line of Python (instead of an ioc command)."""
    argv = [sys.executable, "-c", code]
    return Child(name, argv, dict(os.environ), may_finish=may_finish, policy=policy or RestartPolicy())


def test_restarts_in_the_watch_loop_and_a_stop_interrupts_a_pending_delay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path, web_port=free_port())
    supervisor = Supervisor(settings, scenario=None, speed=1.0, seed=None, announce=lambda _: None)
    slow = python_child("aggregator", "import sys; sys.exit(3)", policy=RestartPolicy(first_delay_s=60))
    flaky = python_child("flaky", "import sys; sys.exit(4)", policy=RestartPolicy(first_delay_s=0.05, max_delay_s=0.1))
    finished = python_child("simulator", "pass", may_finish=True)
    steady = python_child("web", "import time; time.sleep(60)")
    children = [slow, flaky, finished, steady]
    outcome: list[int] = []
    watcher = threading.Thread(target=lambda: outcome.append(supervisor._watch()))
    caplog.set_level(logging.INFO, logger="cli.supervisor")
    try:
        for child in children:
            supervisor._start(child)
            supervisor.children.append(child)
        assert slow.process is not None
        slow_pid = slow.process.pid
        first_steady = steady.process
        first_finished = finished.process
        watcher.start()
        wait_for(lambda: flaky.policy.failing and slow.restart_at is not None, 20, "a pending and a failing restart")
        assert flaky.policy.restarts >= 5
        assert slow.policy.restarts == 1 and slow.process is None, "the 60 s delay is still pending"
        assert steady.process is first_steady and steady.running, "the others keep running"
        assert finished.process is first_finished and finished.policy.restarts == 0, "a finished simulator stays so"
        started = time.monotonic()
        supervisor.request_stop()
        watcher.join(timeout=5)
        assert not watcher.is_alive() and outcome == [0]
        assert time.monotonic() - started < 1.5, "the stop must not wait for the pending restart"
    finally:
        supervisor.request_stop()
        if watcher.is_alive():
            watcher.join(timeout=5)
        supervisor._shutdown()
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    restart = f"aggregator (pid {slow_pid}) exited with code 3; restart 1, 1 death(s) in the last 5 min; next in 60 s"
    assert (logging.WARNING, restart) in messages
    failing = [text for level, text in messages if level == logging.ERROR and "flaky is failing repeatedly" in text]
    assert failing and "5 deaths within 60 s" in failing[0] and "the rest stays up" in failing[0], messages
    assert (logging.INFO, "simulator finished") in messages
    assert not any(c.running for c in children)


def processed(client: redis.Redis, keys: Keys) -> int | None:
    """Events the aggregator has processed in every domain, or None while Redis does not answer."""
    try:
        return sum(int(client.hget(keys.stats(domain), "processed") or 0) for domain in DOMAINS)
    except (redis.ConnectionError, redis.TimeoutError):
        return None


def wait_for_flow(client: redis.Redis, keys: Keys, when: str) -> None:
    """Wait until Redis answers, then until the processed counter rises above its value at that moment."""
    wait_for(lambda: processed(client, keys) is not None, 20, f"Redis to answer {when}")
    baseline = processed(client, keys) or 0
    wait_for(lambda: (processed(client, keys) or 0) > baseline, 30, f"processed events to rise {when}")


@pytest.mark.slow
def test_each_child_killed_is_restarted_alone_and_data_flows_again(data_dir: Path, tmp_path: Path) -> None:
    require("ioc/aggregator/engine.py", "simulators/runner.py", "webapp.py", *CITY_FILES)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc, _, stderr = start_run(data_dir, tmp_path, port, "--speed", "600", "--seed", "5")
    seen: set[int] = set()
    reports: list[str] = []

    def supervisor_up() -> None:
        assert proc.poll() is None, f"ioc run exited ({proc.returncode}):\n{stderr.read_text()}"

    def serving() -> bool:
        supervisor_up()
        return http_status(url) == 200

    try:
        wait_for(serving, 60, f"GET {url} to return 200", interval_s=0.3)
        wait_for(lambda: len(run_file_children(data_dir)) == len(RUN_CHILDREN), 20, "every child in the run file")
        seen.update(run_file_children(data_dir).values())
        client = connect_url(EmbeddedRedis(data_dir / "redis").url)
        keys = Keys("live")
        wait_for_flow(client, keys, "at start")

        # "redis-server": the server itself crashes (its wrapper `ioc redis` exits and is restarted); "redis": the
        # wrapper is killed and leaves its server running, which must make way for the restarted one.
        for victim in ("aggregator", "incidents-engine", "simulator", "redis", "redis-server", "web"):
            name = "redis" if victim == "redis-server" else victim
            old = run_file_children(data_dir)[name]
            ended = "exited with code 1" if victim == "redis-server" else "was killed by SIGKILL"
            reports.append(f"{name} (pid {old}) {ended}; restart ")
            killed_at = time.time()
            if victim == "web":
                os.killpg(old, signal.SIGKILL)  # gunicorn's master and workers go down together, like a crash
            elif victim == "redis-server":
                os.kill(int((data_dir / "redis" / "redis.pid").read_text()), signal.SIGKILL)
            else:
                os.kill(old, signal.SIGKILL)

            def restarted(name: str = name, old: int = old, victim: str = victim) -> bool:
                supervisor_up()
                if victim != "web":
                    assert http_status(url) == 200, f"the web must keep answering while {victim} is down"
                new = run_file_children(data_dir).get(name)
                return new is not None and new != old and pid_alive(new)

            wait_for(restarted, 30, f"{victim} to be restarted with a new pid in the run file")
            seen.update(run_file_children(data_dir).values())
            wait_for(serving, 30, f"GET {url} to return 200 after {victim} was killed", interval_s=0.3)
            wait_for_flow(client, keys, f"after {victim} was killed")
            seen.add(int((data_dir / "redis" / "redis.pid").read_text()))  # the redis-server answering now
            if victim == "aggregator":
                # its first heartbeat may come a moment after its first batch (seen in CI: 0.1 s)
                def refreshed(since: float = killed_at) -> bool:
                    return float(client.hget(keys.heartbeat(), "loop") or 0) > since

                wait_for(refreshed, 30, "the restarted aggregator to refresh its heartbeat")
        client.close()

        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C
        assert proc.wait(timeout=30) == 0, stderr.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log = stderr.read_text()
    for report in reports:
        assert report in log, log
    assert "outlived its `ioc redis` process" in log
    assert "Traceback" not in log, log
    assert_nothing_left(data_dir, sorted(seen))
