"""Backups of the records that must last (accounts, incidents, audit): one file, and back again.

- SQLite (the embedded file): SQLite's online backup, page by page, a consistent copy even while the processes keep
  writing; restored the same way, into the configured file (stop the processes first).
- PostgreSQL: `pg_dump --format=custom` of the database (only the URL's schema when its `options` set a
  search_path), restored with `pg_restore --clean --if-exists --no-owner --single-transaction`, so a failed restore
  changes nothing. The PostgreSQL client programs (Debian's postgresql-client) must be installed.

A restore is checked: the database must answer and be at a known migration revision afterwards.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Final

from ioc.db import Database
from ioc.errors import DatabaseError, InvalidInput

PG_TIMEOUT_S: Final = 3600.0


def _sqlite_file(database: Database) -> Path:
    return Path(str(database.url.database))


def _libpq(database: Database) -> tuple[str, str | None]:
    """The database's URL for the PostgreSQL client programs (password included, never printed) and the schema
    its `options` select (`-csearch_path=...`), if any."""
    url = database.url.set(drivername="postgresql")
    value = url.query.get("options")
    options = " ".join(value) if isinstance(value, tuple) else (value or "")
    schema = next(
        (
            part.partition("=")[2].split(",")[0].strip('"') or None
            for part in options.split()
            if part.startswith("-csearch_path=")
        ),
        None,
    )
    return url.render_as_string(hide_password=False), schema


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DatabaseError(f"{name} is not installed: the PostgreSQL client programs are needed (postgresql-client)")
    return found


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=PG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise DatabaseError(f"{what} took longer than {PG_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        raise DatabaseError(f"{what} failed: {done.stderr.strip()[-500:]}")


def backup(database: Database, target: Path) -> None:
    """Write a consistent copy of the database to `target` (refused if it exists: a backup is never overwritten)."""
    if target.exists():
        raise InvalidInput(f"{target} exists already: choose a new file for the backup")
    if database.dialect == "sqlite":
        source = _sqlite_file(database)
        if not source.is_file():
            raise DatabaseError(f"{database.describe()} does not exist")
        with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
            live.backup(copy)
        live.close()
        copy.close()
        return
    url, schema = _libpq(database)
    argv = [_program("pg_dump"), "--format=custom", "--no-owner", f"--file={target}"]
    if schema:
        argv.append(f"--schema={schema}")
    _run([*argv, f"--dbname={url}"], "pg_dump")


def restore(database: Database, source: Path) -> str:
    """Replace every record of the database with those of the backup `source`; returns the revision it is at."""
    if not source.is_file():
        raise InvalidInput(f"{source} is not a backup file")
    if database.dialect == "sqlite":
        try:
            with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as backup_copy:
                backup_copy.execute("SELECT count(*) FROM sqlite_master").fetchone()
                target = _sqlite_file(database)
                target.parent.mkdir(parents=True, exist_ok=True)
                with sqlite3.connect(target) as live:
                    backup_copy.backup(live)
                live.close()
            backup_copy.close()
        except sqlite3.DatabaseError as exc:
            raise InvalidInput(f"{source} is not an SQLite backup: {exc}") from None
    else:
        url, _schema = _libpq(database)
        _run(
            [
                _program("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                f"--dbname={url}",
                str(source),
            ],
            "pg_restore",
        )
    database.close()  # pooled connections may hold the old schema's catalogue
    database.check()
    revision = database.current_revision()
    if revision is None:
        raise DatabaseError(f"the restored {database.describe()} has no migration revision: is {source} a backup?")
    return revision
