"""`ioc db`, `ioc users` and `ioc display-token` as an operator runs them: real subprocesses on real databases
(SQLite file; PostgreSQL when IOC_TEST_DATABASE_URL is set), passwords from stdin or a real terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cli.accounts import cli_actor, prepare_database, prepare_web
from ioc import audit
from ioc.db import Database, open_database
from ioc.embedded import EmbeddedRedis
from ioc.identity.accounts import Account, LoginFailure, LoginRefused, authenticate
from ioc.identity.ratelimit import LoginLimiter
from ioc.identity.roles import Role
from ioc.identity.tokens import verify_display_token
from ioc.keys import Keys
from ioc.secret_key import SECRET_KEY_FILE
from ioc.settings import Settings
from ioc.store import connect_url
from tests.conftest import wipe_namespace

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
ADDRESS = "192.0.2.10"


def clean_env(values: dict[str, str]) -> dict[str, str]:
    """The caller's environment minus every IOC_* variable, plus `values`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("IOC_")} | values


def ioc(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m cli ARGS` with `stdin` (not a terminal) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        cwd=ROOT,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The standard output of a command that must have succeeded."""
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], status: int, text: str) -> None:
    """The command failed with `status` and a message containing `text`, without a traceback."""
    assert result.returncode == status, (result.stdout, result.stderr)
    assert text in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def env(db_env: dict[str, str]) -> dict[str, str]:
    """The environment of a CLI subprocess on the database under test."""
    return clean_env(db_env)


@pytest.fixture
def migrated(env: dict[str, str]) -> dict[str, str]:
    """The environment of a CLI subprocess on the database under test, after `ioc db upgrade`."""
    ok(ioc("db", "upgrade", env=env))
    return env


@pytest.fixture
def limiter(embedded_redis: EmbeddedRedis, keys: Keys) -> Iterator[LoginLimiter]:
    """A login limiter on the embedded Redis (the CLI does not use it; the tests log in with it)."""
    client = connect_url(embedded_redis.url)
    yield LoginLimiter(client, keys, max_failures=50, window_s=60)
    wipe_namespace(client, keys)
    client.close()


def login(db_settings: Settings, limiter: LoginLimiter, name: str, password: str) -> Account | LoginRefused:
    """Authenticate in this process against the database the CLI changed."""
    db = open_database(db_settings)
    try:
        return authenticate(db, limiter, name, password, ADDRESS)
    finally:
        db.close()


def test_db_upgrade_and_current(env: dict[str, str], tmp_path: Path) -> None:
    probe = Database(f"sqlite:///{tmp_path / 'probe.sqlite3'}")
    head = probe.head_revision()  # the newest migration this code ships
    probe.close()
    assert "none" in ok(ioc("db", "current", env=env))
    assert f"upgraded from an empty database to {head}" in ok(ioc("db", "upgrade", env=env))
    assert f"already at the newest revision {head}" in ok(ioc("db", "upgrade", env=env))
    assert ok(ioc("db", "current", env=env)).startswith(f"{head} (newest)")


@pytest.mark.slow
def test_users_end_to_end(migrated: dict[str, str], db_settings: Settings, limiter: LoginLimiter) -> None:
    env = migrated
    assert "created account 'Ana' with the role operator" in ok(
        ioc("users", "add", "Ana", "--role", "operator", env=env, stdin=PASSWORD + "\n")
    )
    ok(ioc("users", "add", "root", "--role", "ADMIN", env=env, stdin=PASSWORD))  # no newline at the end: fine
    listed = json.loads(ok(ioc("users", "list", "--json", env=env)))
    assert [(a["username"], a["role"], a["disabled"], a["version"]) for a in listed] == [
        ("Ana", "operator", False, 1),
        ("root", "admin", False, 1),
    ]
    assert "password" not in json.dumps(listed)
    table = ok(ioc("users", "list", env=env)).splitlines()
    assert table[0].split() == ["USER", "ROLE", "STATUS", "VERSION", "UPDATED"] and table[1].split()[:3] == [
        "Ana",
        "operator",
        "enabled",
    ]

    assert isinstance(login(db_settings, limiter, "ana", PASSWORD), Account)
    ok(ioc("users", "disable", "ana", env=env))
    after_disable = login(db_settings, limiter, "ana", PASSWORD)
    assert isinstance(after_disable, LoginRefused) and after_disable.reason is LoginFailure.DISABLED
    ok(ioc("users", "enable", "ANA", env=env))
    ok(ioc("users", "reset-password", "ana", env=env, stdin="a brand new passphrase\n"))
    assert isinstance(login(db_settings, limiter, "ana", PASSWORD), LoginRefused)
    assert isinstance(login(db_settings, limiter, "ana", "a brand new passphrase"), Account)
    assert "has the role manager" in ok(ioc("users", "set-role", "ana", "manager", env=env))

    db = open_database(db_settings)
    try:
        entries = [e for e in reversed(audit.entries(db)) if e.action.startswith("account.")]
    finally:
        db.close()
    assert [(e.action, e.actor) for e in entries] == [
        ("account.create", cli_actor()),
        ("account.create", cli_actor()),
        ("account.disable", cli_actor()),
        ("account.enable", cli_actor()),
        ("account.reset_password", cli_actor()),
        ("account.set_role", cli_actor()),
    ]
    assert cli_actor().startswith("cli:")


def test_users_errors(migrated: dict[str, str]) -> None:
    env = migrated
    ok(ioc("users", "add", "ana", "--role", "operator", env=env, stdin=PASSWORD))
    refused(ioc("users", "add", "ANA", "--role", "manager", env=env, stdin=PASSWORD), 1, "exists already")
    refused(ioc("users", "disable", "nobody", env=env), 1, "no account named 'nobody'")
    refused(ioc("users", "set-role", "nobody", "admin", env=env), 1, "no account named 'nobody'")


def test_users_input_errors(tmp_path: Path) -> None:
    """Checked before the database is touched, so one database is enough."""
    env = clean_env({"IOC_DATA_DIR": str(tmp_path)})
    refused(ioc("users", "add", "bao", "--role", "operator", env=env, stdin="short\n"), 2, "at least 10 characters")
    refused(ioc("users", "add", "bao", "--role", "operator", env=env, stdin=""), 2, "no password on standard input")
    refused(ioc("users", "add", "bao", "--role", "boss", env=env, stdin=PASSWORD), 2, "unknown role 'boss'")
    refused(ioc("users", "add", "bao nguyen", "--role", "operator", env=env, stdin=PASSWORD), 2, "invalid user name")
    refused(ioc("users", env=env), 2, "required")
    short = ioc("users", "reset-password", "bao", env=env, stdin="tiny-pw\n")
    refused(short, 2, "at least 10 characters")
    assert "tiny-pw" not in short.stderr + short.stdout
    assert not (tmp_path / "ioc.sqlite3").exists()


@pytest.mark.slow
def test_display_tokens_end_to_end(migrated: dict[str, str], db_settings: Settings) -> None:
    env = migrated | {"IOC_PUBLIC_URL": "https://ioc.tamky.example/"}
    out = ok(ioc("display-token", "create", "lobby-wall", env=env))
    url = out.strip().splitlines()[-1]
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "ioc.tamky.example", "/display")
    (token,) = parse_qs(parts.query)["token"]
    assert len(token) >= 43

    db = open_database(db_settings)
    try:
        record = verify_display_token(db, token)
        assert record is not None and record.name == "lobby-wall" and record.created_by == cli_actor()
        listed = ok(ioc("display-token", "list", "--json", env=env))
        assert token not in listed and [t["name"] for t in json.loads(listed)] == ["lobby-wall"]
        assert "active" in ok(ioc("display-token", "list", env=env))
        refused(ioc("display-token", "create", "lobby-wall", env=env), 1, "exists already")
        ok(ioc("display-token", "revoke", "lobby-wall", env=env))
        assert verify_display_token(db, token) is None
        refused(ioc("display-token", "revoke", "lobby-wall", env=env), 1, "no active display token")
        refused(ioc("display-token", "create", "lobby wall", env=env), 2, "invalid display token name")
    finally:
        db.close()


@pytest.mark.parametrize("url", ["mysql://ioc@db.example/ioc", "postgresql://db.example:99999/ioc", "sqlite:///x"])
def test_bad_database_url_exits_2(tmp_path: Path, url: str) -> None:
    env = clean_env({"IOC_DATA_DIR": str(tmp_path), "IOC_DATABASE_URL": url})
    for args in (("db", "upgrade"), ("users", "list")):
        refused(ioc(*args, env=env), 2, "IOC_DATABASE_URL")


@pytest.mark.slow
def test_unreachable_postgresql_exits_1(tmp_path: Path) -> None:
    env = clean_env({"IOC_DATA_DIR": str(tmp_path), "IOC_DATABASE_URL": "postgresql://ioc:s3cret@127.0.0.1:1/ioc"})
    for args in (("db", "upgrade"), ("users", "list"), ("display-token", "list")):
        result = ioc(*args, env=env)
        refused(result, 1, "cannot reach the database at postgresql://ioc:***@127.0.0.1:1/ioc")
        assert "s3cret" not in result.stderr


def test_external_database_must_be_migrated_first(env: dict[str, str]) -> None:
    result = ioc("users", "list", env=env)
    if "IOC_DATABASE_URL" in env:
        refused(result, 1, "run `ioc db upgrade`")
    else:  # the embedded SQLite file is migrated on the spot
        assert ok(result).split() == ["USER", "ROLE", "STATUS", "VERSION", "UPDATED"]


def run_in_terminal(args: list[str], env: dict[str, str], answers: list[str]) -> tuple[int, str]:
    """Run `python -m cli ARGS` on a new pseudo-terminal, typing each answer after its prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin, stdout and controlling terminal are the pty
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "cli", *args], env)
    seen = ""
    answered = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096).decode(errors="replace")
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            # Answer a prompt once it is complete (getpass discards what was typed before it turned echo off).
            if answered < len(answers) and seen.count("assword") > answered and seen.endswith(": "):
                os.write(fd, (answers[answered] + "\n").encode())
                answered += 1
        finished, status = os.waitpid(pid, os.WNOHANG)
        while finished == 0 and time.monotonic() < deadline:  # it closed the terminal and is on its way out
            time.sleep(0.05)
            finished, status = os.waitpid(pid, os.WNOHANG)
        if finished == 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the command did not finish; the terminal showed: {seen!r}")
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), seen


def test_password_prompted_twice_on_a_terminal(
    migrated: dict[str, str], db_settings: Settings, limiter: LoginLimiter
) -> None:
    env = migrated
    status, screen = run_in_terminal(["users", "add", "ana", "--role", "operator"], env, [PASSWORD, PASSWORD])
    assert status == 0, screen
    assert "Password:" in screen and "Password again:" in screen
    assert PASSWORD not in screen  # not echoed
    assert isinstance(login(db_settings, limiter, "ana", PASSWORD), Account)
    status, screen = run_in_terminal(["users", "add", "bao", "--role", "operator"], env, [PASSWORD, "something else"])
    assert status == 2 and "the two passwords differ" in screen


def test_first_run_creates_one_account_per_role_only_on_the_embedded_database(
    db_settings: Settings, limiter: LoginLimiter
) -> None:
    """What `ioc run` does before starting its children (the function, not a whole run)."""
    lines = prepare_web(db_settings, default_accounts=True)
    assert (db_settings.data_dir / SECRET_KEY_FILE).exists()
    if not db_settings.embedded_database:
        assert lines == []
        return
    shown = {line.split()[0]: line.split()[1] for line in lines if line.startswith("    ")}
    assert set(shown) == {role.value for role in Role}
    assert "only this once" in "\n".join(lines)
    for name, password in shown.items():
        account = login(db_settings, limiter, name, password)
        assert isinstance(account, Account) and account.role.value == name
    assert prepare_web(db_settings, default_accounts=True) == []  # the next start shows nothing


def test_web_start_creates_no_default_accounts(db_settings: Settings) -> None:
    assert prepare_web(db_settings, default_accounts=False) == []
    assert (db_settings.data_dir / SECRET_KEY_FILE).exists()
    db = open_database(db_settings)
    try:
        assert db.is_current()
        from ioc.identity.accounts import list_accounts

        assert list_accounts(db) == []
    finally:
        db.close()


def test_the_incident_engine_start_makes_no_session_key(db_settings: Settings) -> None:
    """Only the web signs cookies: the engine's start-up step migrates and leaves no secret_key in the data folder."""
    assert prepare_database(db_settings, default_accounts=False) == []
    db = open_database(db_settings)
    try:
        assert db.is_current()
    finally:
        db.close()
    assert not (db_settings.data_dir / SECRET_KEY_FILE).exists()
