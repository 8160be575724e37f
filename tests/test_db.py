"""The database layer on a real SQLite file and (with IOC_TEST_DATABASE_URL) a real PostgreSQL: migrations from
empty, models matching them, UTC times, the append-only audit log, SQLite's locking, bad and unreachable URLs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import exc as sa_exc

from ioc.audit import AuditRow
from ioc.db import Database, open_database, sqlalchemy_url
from ioc.errors import DatabaseError, SettingsError
from ioc.identity.roles import Role
from ioc.schema import metadata
from ioc.settings import Settings, load_settings

TABLES = {"accounts", "display_tokens", "audit_log"}
ROOT = Path(__file__).resolve().parent.parent
# One process's start-up migration, printing the revisions it went from and to.
UPGRADE = (
    "from ioc.db import open_database; from ioc.settings import load_settings; "
    "print(*open_database(load_settings()).upgrade())"
)


def audit_row(**values: object) -> AuditRow:
    """An audit row with defaults for what the test does not care about."""
    fields: dict[str, object] = {"at": datetime.now(UTC), "actor": "test", "action": "test.write", "object_type": "t"}
    fields.update(values)
    return AuditRow(**fields)


def test_migrates_from_empty(db_settings: Settings) -> None:
    database = open_database(db_settings)
    try:
        assert database.current_revision() is None
        assert not set(sa.inspect(database.engine).get_table_names()) & TABLES
        before, after = database.upgrade()
        assert (before, after) == (None, database.head_revision())
        assert database.is_current()
        assert set(sa.inspect(database.engine).get_table_names()) >= TABLES
        assert database.upgrade() == (after, after)  # nothing left to do
    finally:
        database.close()


def test_models_match_the_migrations(db: Database) -> None:
    with db.engine.connect() as connection, warnings.catch_warnings():
        # SQLite cannot reflect the expression index on lower(username) and warns that it skips comparing it.
        warnings.simplefilter("ignore")
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_role_check_constraint_lists_every_role(db: Database) -> None:
    now = datetime.now(UTC)
    with pytest.raises(sa_exc.IntegrityError), db.transaction() as session:
        session.execute(
            sa.text(
                "INSERT INTO accounts (username, role, password_hash, disabled, created_at, updated_at, version) "
                "VALUES ('x', 'boss', 'h', false, :now, :now, 1)"
            ),
            {"now": now.replace(tzinfo=None)},
        )
    for role in Role:
        with db.transaction() as session:
            session.execute(
                sa.text(
                    "INSERT INTO accounts (username, role, password_hash, disabled, created_at, updated_at, version) "
                    "VALUES (:name, :role, 'h', false, :now, :now, 1)"
                ),
                {"name": f"u-{role.value}", "role": role.value, "now": now.replace(tzinfo=None)},
            )


def test_times_come_back_utc_aware(db: Database) -> None:
    local = datetime(2025, 6, 1, 19, 30, 15, 123456, tzinfo=timezone(timedelta(hours=7)))
    with db.transaction() as session:
        session.add(audit_row(at=local))
    with db.read() as session:
        at = session.scalars(sa.select(AuditRow.at)).one()
    assert at == local
    assert at.utcoffset() == timedelta(0)
    assert at.hour == 12


def test_naive_times_are_refused(db: Database) -> None:
    with pytest.raises(sa_exc.StatementError, match="naive datetime"), db.transaction() as session:
        session.add(audit_row(at=datetime(2025, 6, 1, 12, 0)))
        session.flush()


def test_audit_log_refuses_update_and_delete(db: Database) -> None:
    with db.transaction() as session:
        session.add(audit_row(actor="alice"))
    for statement in (sa.update(AuditRow).values(actor="mallory"), sa.delete(AuditRow)):
        with pytest.raises(sa_exc.DBAPIError, match="append-only"), db.transaction() as session:
            session.execute(statement)
    with db.read() as session:
        assert session.scalars(sa.select(AuditRow.actor)).all() == ["alice"]


def test_read_transaction_writes_nothing(db: Database) -> None:
    with db.read() as session:
        session.add(audit_row())
        session.flush()
    with db.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditRow)) == 0


def test_sqlite_file_settings(tmp_path: Path) -> None:
    database = open_database(Settings(data_dir=tmp_path / "new" / "folder"))
    try:
        assert database.embedded
        assert Path(str(database.url.database)) == (tmp_path / "new" / "folder" / "ioc.sqlite3").resolve()
        with database.engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
        assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10_000}
    finally:
        database.close()


def test_sqlite_writers_wait_for_each_other_and_readers_do_not(tmp_path: Path) -> None:
    """A second writer waits under the busy timeout instead of failing; a reader is not blocked by a writer."""
    database = open_database(Settings(data_dir=tmp_path))
    database.upgrade()
    first_holds_lock = threading.Event()
    release_first = threading.Event()
    second_done = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with database.transaction() as session:
                session.add(audit_row(actor="first"))
                session.flush()
                first_holds_lock.set()
                assert release_first.wait(10)
        except BaseException as exc:
            errors.append(exc)

    def second() -> None:
        try:
            with database.transaction() as session:
                session.add(audit_row(actor="second"))
            second_done.set()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    try:
        assert first_holds_lock.wait(10)
        threads.append(threading.Thread(target=second))
        threads[1].start()
        with database.read() as session:  # WAL: a reader sees the last commit while a writer holds the lock
            assert session.scalar(sa.select(sa.func.count()).select_from(AuditRow)) == 0
        assert not second_done.wait(0.3), "the second writer did not wait for the first"
    finally:
        release_first.set()
        for thread in threads:
            thread.join(15)
    assert errors == []
    assert second_done.is_set()
    with database.read() as session:
        assert sorted(session.scalars(sa.select(AuditRow.actor))) == ["first", "second"]
    database.close()


def test_concurrent_upgrades_leave_one_schema(db_env: dict[str, str], db_settings: Settings) -> None:
    """Web hosts starting together: each process migrates, one does the work, none fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")} | db_env
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE],
            env=env,
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    database = open_database(db_settings)
    try:
        head = database.head_revision()
        assert database.current_revision() == head
    finally:
        database.close()
    assert sorted(out.strip() for out, _ in outputs) == sorted([f"None {head}"] + [f"{head} {head}"] * 2), outputs


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user@db.example/ioc",
        "sqlite:///var/ioc.sqlite3",
        "not a url",
        "postgresql://db.example:99999/ioc",
        "postgresql:///ioc",
    ],
)
def test_bad_database_url_names_the_variable(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("IOC_DATABASE_URL", url)
    with pytest.raises(SettingsError, match="IOC_DATABASE_URL"):
        load_settings()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ioc:secret@db.example:5432/ioc",
        "postgres://db.example/ioc",
        "postgresql+psycopg://db.example/ioc?sslmode=require",
        "postgresql:///ioc?host=/run/postgresql",
    ],
)
def test_postgresql_urls_map_to_psycopg(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("IOC_DATABASE_URL", url)
    settings = load_settings()
    assert settings.database_url == url
    assert not settings.embedded_database
    assert sqlalchemy_url(url).drivername == "postgresql+psycopg"


def test_unreachable_postgresql_is_a_clear_error() -> None:
    settings = Settings(database_url="postgresql://ioc:secret@127.0.0.1:1/ioc")
    with pytest.raises(DatabaseError) as caught:
        open_database(settings)
    message = str(caught.value)
    assert "cannot reach the database at postgresql://ioc:***@127.0.0.1:1/ioc" in message
    assert "secret" not in message


def test_database_error_mid_use_is_translated(tmp_path: Path) -> None:
    """A database that goes away after start-up gives DatabaseError (a message), not a driver traceback."""
    folder = tmp_path / "gone"
    database = open_database(Settings(data_dir=folder))
    database.close()
    shutil.rmtree(folder)
    with pytest.raises(DatabaseError, match="database error on SQLite file"), database.read() as session:
        session.execute(sa.text("SELECT 1"))
