"""The data folder stays private to its owner: made through the real code paths (the SQLite database, the embedded
Redis, the session key, the `ioc` command) under the usual umask 022, the folder and every folder in it are 0700
and every file 0600; a folder left open by an older version (0755, files 0644) is tightened, with a warning."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ioc.datadir import secure_data_folder
from ioc.db import SQLITE_FILE, open_database
from ioc.embedded import EmbeddedRedis
from ioc.identity.accounts import create_account
from ioc.identity.roles import Role
from ioc.secret_key import SECRET_KEY_FILE, secret_key
from ioc.settings import Settings
from ioc.store import connect_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give a login (022), whatever this test process had; restored afterwards."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def open_modes(folder: Path) -> dict[str, str]:
    """Every entry (the folder itself too) whose mode is not 0700 for a folder or 0600 for anything else."""
    wrong = {}
    entries = [folder, *folder.rglob("*")]
    for entry in entries:
        info = entry.lstat()
        wanted = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        if stat.S_IMODE(info.st_mode) != wanted:
            wrong[str(entry.relative_to(folder.parent))] = f"{stat.S_IMODE(info.st_mode):o}"
    return wrong


def test_a_new_data_folder_is_private(tmp_path: Path, usual_umask: None) -> None:
    data = tmp_path / "var"
    settings = Settings(data_dir=data)
    db = open_database(settings)
    try:
        db.upgrade()
        create_account(db, "root", Role.ADMIN, "correct horse battery", actor="test")  # a write: -wal and -shm
        assert (data / f"{SQLITE_FILE}-wal").exists()
        secret_key(settings)
        server = EmbeddedRedis(data / "redis")
        server.start()
        try:
            client = connect_url(server.url)
            client.set("k", "v")
            client.save()  # the RDB file, besides the append-only file, the log, the pid file and the socket
            client.close()
            names = {p.name for p in (data / "redis").iterdir()}
            assert {"ioc.rdb", "redis.log", "redis.pid", "redis.sock"} <= names, names
            assert open_modes(data) == {}
        finally:
            server.stop()
        assert open_modes(data) == {}
    finally:
        db.close()
    assert {SECRET_KEY_FILE, SQLITE_FILE, "redis"} <= {p.name for p in data.iterdir()}


def test_the_ioc_command_makes_a_private_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "nested" / "var"
    env = {**os.environ, "IOC_DATA_DIR": str(data)}
    env.pop("IOC_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "cli", "db", "upgrade"],
        env=env,
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=60,
        umask=0o022,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (data / SQLITE_FILE).exists()
    assert open_modes(tmp_path / "nested") == {}  # the missing parent was made by us, private too


def test_an_open_data_folder_left_by_an_older_version_is_tightened(
    tmp_path: Path, usual_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "var"
    (data / "redis").mkdir(parents=True)  # 0755 under umask 022, as older versions left them
    sqlite3.connect(data / SQLITE_FILE).close()  # 0644
    (data / "redis" / "appendonly.aof").write_text("")
    (data / SECRET_KEY_FILE).write_text("k" * 64 + "\n")
    assert stat.S_IMODE(data.stat().st_mode) == 0o755
    assert stat.S_IMODE((data / SQLITE_FILE).stat().st_mode) == 0o644
    with caplog.at_level(logging.WARNING, logger="ioc.datadir"):
        open_database(Settings(data_dir=data)).close()
    assert open_modes(data) == {}
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "open to other users" in warned and SQLITE_FILE in warned and "appendonly.aof" in warned


def test_a_symbolic_link_in_the_data_folder_is_left_alone(tmp_path: Path, usual_umask: None) -> None:
    elsewhere = tmp_path / "shared.txt"
    elsewhere.write_text("not ours to change")
    data = tmp_path / "var"
    data.mkdir()
    (data / "link").symlink_to(elsewhere)
    secure_data_folder(data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o644
