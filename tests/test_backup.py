"""`ioc db backup` and `ioc db restore`: a tested restore on each database (the SQLite file, and PostgreSQL with
pg_dump and pg_restore), refusals that lose nothing, and a backup taken while records are being written."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import sqlalchemy as sa

from ioc.backup import backup
from ioc.db import Database
from ioc.identity.accounts import create_account
from ioc.identity.roles import Role
from tests.test_cli_users import PASSWORD, clean_env, ioc, ok


def names(env: dict[str, str]) -> set[str]:
    """The account names `ioc users list --json` shows."""
    return {account["username"] for account in json.loads(ok(ioc("users", "list", "--json", env=env)))}


def test_a_backup_restores_what_was_there_and_nothing_after(db_env: dict[str, str], tmp_path: Path) -> None:
    env = clean_env(db_env)
    ok(ioc("db", "upgrade", env=env))
    ok(ioc("users", "add", "an.before", "--role", "operator", env=env, stdin=f"{PASSWORD}\n"))
    saved = tmp_path / "ioc.backup"
    assert "backed up to" in ok(ioc("db", "backup", str(saved), env=env))
    again = ioc("db", "backup", str(saved), env=env)
    assert again.returncode == 2 and "exists already" in again.stderr  # a backup is never overwritten
    ok(ioc("users", "add", "binh.after", "--role", "manager", env=env, stdin=f"{PASSWORD}\n"))
    assert {"an.before", "binh.after"} <= names(env)

    unconfirmed = ioc("db", "restore", str(saved), env=env)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    assert "binh.after" in names(env)  # nothing changed
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    refused = ioc("db", "restore", str(not_a_backup), "--yes", env=env)
    assert refused.returncode in (1, 2) and refused.stderr, refused.stdout
    assert "binh.after" in names(env)  # a failed restore changes nothing

    restored = ok(ioc("db", "restore", str(saved), "--yes", env=env))
    assert "at revision" in restored and "ioc db upgrade" not in restored
    after = names(env)
    assert "an.before" in after and "binh.after" not in after
    assert "(newest)" in ok(ioc("db", "current", env=env))


def test_an_sqlite_backup_taken_while_accounts_are_written_is_consistent(tmp_path: Path) -> None:
    env = clean_env({"IOC_DATA_DIR": str(tmp_path / "data")})
    ok(ioc("db", "upgrade", env=env))
    database = Database(f"sqlite:///{tmp_path / 'data' / 'ioc.sqlite3'}")
    stop = threading.Event()
    written: list[str] = []

    def write() -> None:
        number = 0
        while not stop.is_set() and number < 200:
            name = f"w{number:03d}"
            create_account(database, name, Role.OPERATOR, PASSWORD, actor="test")
            written.append(name)
            number += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 5:
            stop.wait(0.05)
        backup(database, tmp_path / "during.backup")
    finally:
        stop.set()
        writer.join()
        database.close()
    copy = Database(f"sqlite:///{tmp_path / 'during.backup'}")
    try:
        copy.check()
        assert copy.is_current()
        with copy.read() as session:
            count = session.scalar(sa.text("SELECT count(*) FROM accounts"))
        assert count is not None and 5 <= count <= len(written)
    finally:
        copy.close()
