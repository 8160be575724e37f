"""The `ioc` command as a user runs it: real subprocesses, real Redis, and no process left behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cli.supervisor import RUN_FILE
from ioc.db import SQLITE_FILE
from ioc.embedded import EmbeddedRedis, ensure_embedded, pid_alive
from ioc.keys import DOMAINS, Keys
from ioc.secret_key import SECRET_KEY_FILE
from ioc.store import connect_url

ROOT = Path(__file__).resolve().parent.parent
IOC_SCRIPT = Path(sys.executable).parent / "ioc"
CITY_FILES = tuple(
    f"ioc/cities/tam_ky/{name}" for name in ("city.json", "roads.geojson", "sensors.json", "basemap.geojson")
)
# What `ioc run` starts: its run file names each child.
RUN_CHILDREN = frozenset({"redis", "aggregator", "incidents-engine", "exercise-runner", "replayer", "simulator", "web"})
SUBCOMMANDS = (
    "run",
    "aggregator",
    "incidents-engine",
    "exercise-runner",
    "replayer",
    "exercises",
    "simulate",
    "scenarios",
    "web",
    "redis",
    "redis-stop",
    "settings",
)


def require(*paths: str) -> None:
    """Skip the test while a part another contributor writes is not in the tree yet, naming it."""
    missing = [p for p in paths if not (ROOT / p).exists()]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (not written yet)")


def cli_env(data_dir: Path, **values: str) -> dict[str, str]:
    """The caller's environment minus every IOC_* variable, with its own data folder and `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env["IOC_DATA_DIR"] = str(data_dir)
    env.update(values)
    return env


def ioc(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `python -m cli ARGS` to completion and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )


def processes_using(marker: str) -> list[tuple[int, str]]:
    """Live processes whose command line or environment mentions `marker` (our data folder), from /proc."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if (needle in cmdline or needle in environ) and pid_alive(int(entry.name)):
            found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.2) -> None:
    """Poll `check` until it is true; fail naming `what` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_status(url: str) -> int | None:
    """Status of GET url, or None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def assert_nothing_left(data_dir: Path, pids: list[int]) -> None:
    """No recorded pid and no process mentioning the data folder may still run."""
    wait_for(lambda: not any(pid_alive(p) for p in pids), 5, "recorded children to be gone")
    left = processes_using(str(data_dir))
    assert not left, f"processes left running: {left}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data folder that does not exist yet; any process still using it afterwards is killed (and fails a test)."""
    path = tmp_path / "data"
    yield path
    for pid, _ in processes_using(str(path)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_help_lists_subcommands() -> None:
    result = subprocess.run([str(IOC_SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for name in SUBCOMMANDS:
        assert name in result.stdout


def test_simulate_help_lists_options(data_dir: Path) -> None:
    result = ioc("simulate", "--help", env=cli_env(data_dir))
    assert result.returncode == 0
    for option in ("--seed", "--speed", "--rate", "--dry-run", "--limit", "--start"):
        assert option in result.stdout


def test_unknown_argument_is_a_usage_error(data_dir: Path) -> None:
    result = ioc("settings", "--bogus", env=cli_env(data_dir))
    assert result.returncode == 2
    assert "--bogus" in result.stderr


def test_dry_run_is_repeatable_and_touches_no_redis(data_dir: Path) -> None:
    require(*CITY_FILES)
    args = ("simulate", "normal-day", "--dry-run", "--limit", "5", "--seed", "7")
    first = ioc(*args, env=cli_env(data_dir))
    second = ioc(*args, env=cli_env(data_dir))
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    lines = first.stdout.splitlines()
    assert len(lines) == 5
    assert [json.loads(line) for line in lines]
    assert first.stdout == second.stdout
    assert not data_dir.exists(), "a dry run must not create the data folder or start Redis"
    assert not processes_using(str(data_dir))


@pytest.mark.parametrize("dry_run", [True, False])
def test_unknown_scenario_exits_2(data_dir: Path, dry_run: bool) -> None:
    args = ["simulate", "no-such-scenario", *(["--dry-run"] if dry_run else [])]
    result = ioc(*args, env=cli_env(data_dir))
    assert result.returncode == 2
    assert "no-such-scenario" in result.stderr
    assert "Traceback" not in result.stderr
    assert not data_dir.exists(), "a bad scenario must fail before Redis is started"


def test_bad_start_time_is_a_usage_error(data_dir: Path) -> None:
    result = ioc("simulate", "normal-day", "--dry-run", "--start", "yesterday", env=cli_env(data_dir))
    assert result.returncode == 2
    assert "ISO" in result.stderr


def test_scenarios_lists_normal_day(data_dir: Path) -> None:
    result = ioc("scenarios", env=cli_env(data_dir))
    assert result.returncode == 0, result.stderr
    assert "normal-day" in result.stdout.split()


def test_scenarios_list_show_and_check(data_dir: Path, tmp_path: Path) -> None:
    env = cli_env(data_dir)
    listed = ioc("scenarios", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("normal-day "))
    assert "until stopped" in row and "Ngày bình thường" in row
    rows = json.loads(ioc("scenarios", "list", "--json", env=env).stdout)
    normal = next(r for r in rows if r["name"] == "normal-day")
    assert normal["duration_min"] is None and normal["episodes"] == []
    shown = ioc("scenarios", "show", "normal-day", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "start: 06:30" in shown.stdout or "start: '06:30'" in shown.stdout
    merged = json.loads(ioc("scenarios", "show", "normal-day", "--json", env=env).stdout)
    assert merged["traffic"]["peaks"][0]["start"] == "06:30" and "extends" not in merged
    good = tmp_path / "quiet.yaml"
    good.write_text("extends: normal-day\ntitle: Quiet\nwifi: {noise: 0.0}\n", encoding="utf-8")
    checked = ioc("scenarios", "check", str(good), env=env)
    assert checked.returncode == 0, checked.stderr
    assert "ok" in checked.stdout
    assert json.loads(ioc("scenarios", "show", str(good), "--json", env=env).stdout)["wifi"]["noise"] == 0.0
    assert not data_dir.exists(), "looking at scenarios needs no Redis"


def test_scenarios_check_refuses_a_malformed_file_with_its_line(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "extends: normal-day\n"  # 1
        "title: Bad\n"  # 2
        "episodes:\n"  # 3
        "  - kind: crash\n"  # 4
        "    at_min: 10\n"  # 5
        "    duration_min: 30\n"  # 6
        "    segment: seg-nowhere\n",  # 7
        encoding="utf-8",
    )
    result = ioc("scenarios", "check", str(bad), env=cli_env(data_dir))
    assert result.returncode == 2
    assert f"{bad}:7: episodes[0].segment: unknown road segment 'seg-nowhere'" in result.stderr
    assert "Traceback" not in result.stderr
    as_json = json.loads(ioc("scenarios", "check", str(bad), "--json", env=cli_env(data_dir)).stdout)
    assert as_json[0]["ok"] is False and ":7:" in as_json[0]["problems"][0]


def test_dry_run_honours_duration(data_dir: Path) -> None:
    args = ("simulate", "normal-day", "--dry-run", "--seed", "7", "--duration", "600")
    result = ioc(*args, env=cli_env(data_dir))
    assert result.returncode == 0, result.stderr
    stamps = [json.loads(line)["fields"]["ts"] for line in result.stdout.splitlines()]
    assert len(stamps) > 100, "ten simulated minutes hold more than the default 100 events"
    assert "2026-01-05T05:09" <= max(stamps) < "2026-01-05T05:10", "it runs to the duration and stops there"
    capped = ioc(*args, "--limit", "20", env=cli_env(data_dir))
    assert len(capped.stdout.splitlines()) == 20


def test_simulate_starts_background_redis_and_redis_stop_ends_it(data_dir: Path) -> None:
    require(*CITY_FILES)
    env = cli_env(data_dir)
    result = ioc("simulate", "normal-day", "--seed", "3", "--limit", "40", "--speed", "100000", env=env)
    assert result.returncode == 0, result.stderr
    server = EmbeddedRedis(data_dir / "redis")
    assert server.is_answering(), "the standalone simulator leaves its background Redis for other processes"
    pid = int((server.folder / "redis.pid").read_text())
    client = connect_url(server.url)
    written = sum(client.xlen(Keys("live").events(domain)) for domain in DOMAINS)
    client.close()
    assert written == 40

    stopped = ioc("redis-stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    assert not server.is_answering()
    assert_nothing_left(data_dir, [pid])

    again = ioc("redis-stop", env=env)
    assert again.returncode == 0
    assert "no embedded Redis" in again.stdout


def test_redis_stop_refuses_a_server_owned_by_ioc_run(data_dir: Path) -> None:
    server = ensure_embedded(data_dir / "redis")
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "ioc-run-stand-in"])
    try:
        (data_dir / RUN_FILE).write_text(json.dumps({"supervisor": stand_in.pid, "children": {}}))
        refused = ioc("redis-stop", env=cli_env(data_dir))
        assert refused.returncode == 1
        assert f"pid {stand_in.pid}" in refused.stderr
        assert server.is_answering()
    finally:
        stand_in.kill()
        stand_in.wait()
    stale = ioc("redis-stop", env=cli_env(data_dir))  # the owner is gone: its run file no longer counts
    assert stale.returncode == 0, stale.stderr
    assert not server.is_answering()


def test_redis_foreground_stops_on_sigint(data_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "redis-cli.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "redis"],
            env=cli_env(data_dir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = EmbeddedRedis(data_dir / "redis")
    try:
        wait_for(server.is_answering, 20, "the foreground embedded Redis")
        client = connect_url(server.url)
        client.xadd(Keys("live").events("flood"), {"k": "v"})
        client.close()
        pid = int((server.folder / "redis.pid").read_text())
        busy = ioc("redis", env=cli_env(data_dir))
        assert busy.returncode == 1
        assert "already answers" in busy.stderr
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not server.is_answering()
    assert_nothing_left(data_dir, [pid])
    assert (server.folder / "appendonly.aof").stat().st_size > 0


def test_aggregator_stops_gracefully_on_sigterm(data_dir: Path, tmp_path: Path, embedded_redis: EmbeddedRedis) -> None:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    env = cli_env(data_dir, IOC_REDIS_URL=embedded_redis.url, IOC_NAMESPACE=namespace)
    log = tmp_path / "aggregator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "aggregator"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    client = connect_url(embedded_redis.url)
    keys = Keys(namespace)
    try:
        wait_for(lambda: client.exists(keys.heartbeat()) == 1, 30, "the aggregator's heartbeat")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for key in client.scan_iter(match=keys.all_keys_pattern()):
            client.delete(key)
        client.close()
    assert "Traceback" not in log.read_text()


def test_the_incident_engine_alone_migrates_and_makes_no_session_key(
    data_dir: Path, tmp_path: Path, embedded_redis: EmbeddedRedis
) -> None:
    """`ioc incidents-engine` started on its own (a Procfile line) leaves no secret_key: only the web needs one."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    env = cli_env(data_dir, IOC_REDIS_URL=embedded_redis.url, IOC_NAMESPACE=namespace)
    log = tmp_path / "engine.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "incidents-engine"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    client = connect_url(embedded_redis.url)
    keys = Keys(namespace)
    try:
        wait_for(lambda: client.exists(keys.incidents_heartbeat()) == 1, 60, "the incident engine's heartbeat")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for key in client.scan_iter(match=keys.all_keys_pattern()):
            client.delete(key)
        client.close()
    assert (data_dir / SQLITE_FILE).exists()  # migrated: the engine writes incident tables
    assert not (data_dir / SECRET_KEY_FILE).exists()
    assert "Traceback" not in log.read_text()


def start_run(data_dir: Path, tmp_path: Path, port: int, *args: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """Start `ioc run` in its own session (as a terminal would), output to files; the process and the files."""
    stdout, stderr = tmp_path / "run.out", tmp_path / "run.err"
    env = cli_env(data_dir, IOC_WEB_PORT=str(port), IOC_WEB_WORKERS="1")
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "run", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            cwd=tmp_path,
        )
    return proc, stdout, stderr


def run_file_children(data_dir: Path) -> dict[str, int]:
    """The children `ioc run` recorded in its run file (empty until written)."""
    try:
        return {str(k): int(v) for k, v in json.loads((data_dir / RUN_FILE).read_text())["children"].items()}
    except (OSError, ValueError, KeyError):
        return {}


@pytest.mark.slow
def test_run_serves_the_dashboard_and_ctrl_c_stops_everything(data_dir: Path, tmp_path: Path) -> None:
    require("ioc/aggregator/engine.py", "simulators/runner.py", "webapp.py", *CITY_FILES)
    port = free_port()
    proc, stdout, stderr = start_run(data_dir, tmp_path, port, "--speed", "600")
    url = f"http://127.0.0.1:{port}/"
    pids: list[int] = []
    try:

        def serving() -> bool:
            assert proc.poll() is None, f"ioc run exited early ({proc.returncode}):\n{stderr.read_text()}"
            return http_status(url) == 200

        wait_for(serving, 150, f"GET {url} to return 200", interval_s=0.5)
        children = run_file_children(data_dir)
        assert set(children) == RUN_CHILDREN
        pids = list(children.values())
        wait_for(lambda: url in stdout.read_text(), 10, "the URL to be printed")

        server = EmbeddedRedis(data_dir / "redis")
        client = connect_url(server.url)
        keys = Keys("live")
        wait_for(lambda: client.exists(keys.heartbeat()) == 1, 30, "the aggregator to run")
        wait_for(lambda: client.exists(keys.incidents_heartbeat()) == 1, 30, "the incident engine to run")
        wait_for(lambda: sum(client.xlen(keys.events(d)) for d in DOMAINS) > 0, 30, "simulated events")
        client.close()

        second = ioc("run", env=cli_env(data_dir, IOC_WEB_PORT=str(free_port())))
        assert second.returncode == 1
        assert "already running" in second.stderr

        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C goes to the foreground process group
        assert proc.wait(timeout=30) == 0, stderr.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert_nothing_left(data_dir, pids)
    assert not (data_dir / RUN_FILE).exists()
    assert (data_dir / "redis" / "appendonly.aof").stat().st_size > 0, "Redis must save its data on the way out"
    assert "Traceback" not in stderr.read_text()


def test_run_refuses_a_busy_port_before_starting_anything(data_dir: Path, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = int(busy.getsockname()[1])
        result = ioc("run", "--no-simulator", env=cli_env(data_dir, IOC_WEB_PORT=str(port)))
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert "IOC_WEB_PORT" in result.stderr
    assert not (data_dir / "redis").exists(), "nothing may start when the port is taken"


@pytest.mark.slow
def test_run_cleans_up_after_a_killed_supervisor(data_dir: Path, tmp_path: Path) -> None:
    require("ioc/aggregator/engine.py", "simulators/runner.py", "webapp.py", *CITY_FILES)
    proc, _, _ = start_run(data_dir, tmp_path, free_port())
    try:
        wait_for(lambda: len(run_file_children(data_dir)) == len(RUN_CHILDREN), 60, "every child to start")
        orphans = list(run_file_children(data_dir).values())
        proc.send_signal(signal.SIGKILL)  # no chance to clean up: the children live on
        proc.wait(timeout=10)
        assert all(pid_alive(pid) for pid in orphans)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = int(busy.getsockname()[1])
        result = ioc("run", env=cli_env(data_dir, IOC_WEB_PORT=str(port)), timeout=90)
    assert result.returncode == 1, result.stderr  # the busy port stops it, after the leftovers are gone
    assert "left" in result.stderr
    assert_nothing_left(data_dir, orphans)


def test_a_reader_closing_the_pipe_early_ends_quietly(data_dir: Path) -> None:
    require(*CITY_FILES)
    # Far more lines than a pipe holds, so the writer surely meets the closed pipe mid-run (`... | head -n 3`).
    producer = subprocess.Popen(
        [sys.executable, "-m", "cli", "simulate", "normal-day", "--dry-run", "--limit", "100000", "--seed", "7"],
        env=cli_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert producer.stdout is not None and producer.stderr is not None
    head = subprocess.run(["head", "-n", "3"], stdin=producer.stdout, capture_output=True, text=True, timeout=60)
    producer.stdout.close()  # head holds the only reading end now; it closes it when it exits
    stderr = producer.stderr.read().decode()
    assert producer.wait(timeout=60) == 0, stderr
    assert len(head.stdout.splitlines()) == 3
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_a_pipe_closed_before_the_first_line_ends_quietly(data_dir: Path) -> None:
    require(*CITY_FILES)
    # A few lines stay in Python's buffer until the final flush: that flush must not fail either.
    producer = subprocess.Popen(
        [sys.executable, "-m", "cli", "simulate", "normal-day", "--dry-run", "--limit", "3", "--seed", "7"],
        env=cli_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert producer.stdout is not None and producer.stderr is not None
    producer.stdout.close()
    stderr = producer.stderr.read().decode()
    assert producer.wait(timeout=60) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr and "Exception ignored" not in stderr, stderr


def test_a_start_without_offset_is_the_city_own_local_time(data_dir: Path, tmp_path: Path) -> None:
    """`--start` with no offset is read in the city folder's time zone (city.json), not a fixed UTC+7."""
    require(*CITY_FILES)
    city_dir = tmp_path / "city"
    shutil.copytree(ROOT / "ioc" / "cities" / "tam_ky", city_dir)
    meta = json.loads((city_dir / "city.json").read_text())
    meta["timezone"] = "Asia/Tokyo"  # UTC+9
    (city_dir / "city.json").write_text(json.dumps(meta, ensure_ascii=False))
    args = ("simulate", "normal-day", "--dry-run", "--limit", "1", "--seed", "7")

    def first_ts(city: Path | None, start: str) -> str:
        env = cli_env(data_dir, **({"IOC_CITY_DIR": str(city)} if city else {}))
        result = ioc(*args, "--start", start, env=env)
        assert result.returncode == 0, result.stderr
        return str(json.loads(result.stdout.splitlines()[0])["fields"]["ts"])

    assert first_ts(None, "2026-01-05T05:00").startswith("2026-01-05T05:00:01.090+07:00")  # Tam Kỳ, as before
    assert first_ts(city_dir, "2026-01-05T05:00").startswith("2026-01-05T05:00:01.090+09:00")
    assert first_ts(city_dir, "2026-01-05T05:00+07:00").startswith("2026-01-05T07:00:01.090+09:00")  # an offset wins
