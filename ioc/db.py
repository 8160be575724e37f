"""The SQL database of records that must last: engine, sessions, migrations, and the base every table derives from.

The tables themselves live with what they keep (`ioc.identity.tables`, `ioc.incidents.tables`, the audit log in
`ioc.audit`), all on the one metadata of `Base`; `ioc.schema` imports every one of them, so the migrations see the
whole schema. SQLAlchemy 2 typed ORM. `IOC_DATABASE_URL` unset means an embedded SQLite file
`IOC_DATA_DIR/ioc.sqlite3` in WAL mode (foreign keys on, a busy timeout, write transactions taking the write lock at
BEGIN so two writers wait for each other instead of failing); a postgresql:// URL means PostgreSQL through psycopg 3.
Alembic migrations ship in `ioc/migrations/` and run programmatically (`Database.upgrade`), so an installed package
migrates without an alembic.ini. Times are stored and returned as timezone-aware UTC on both databases. Every text
parameter of every statement is checked before it reaches the database (`ioc.inputs.check_storable`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from ioc.errors import DatabaseError, InvalidInput, SettingsError
from ioc.inputs import check_storable, decode_stored, displayable_json
from ioc.settings import Settings

log = logging.getLogger(__name__)
if logging.getLogger("alembic").level == logging.NOTSET:
    # Alembic's INFO lines ("Context impl SQLiteImpl.", plugin set-up) are noise on every command; we log our own.
    logging.getLogger("alembic").setLevel(logging.WARNING)

SQLITE_FILE: Final = "ioc.sqlite3"
BUSY_TIMEOUT_MS: Final = 10_000
CONNECT_TIMEOUT_S: Final = 5
MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
# Key of the PostgreSQL advisory lock held while migrating, so web hosts starting together migrate one at a time.
MIGRATION_LOCK_ID: Final = 0x10C_DB
_READ_ONLY: Final = "ioc_read_only"  # execution option: a SQLite transaction that only reads (plain BEGIN)
POSTGRES_DRIVERS: Final = ("postgresql", "postgres", "postgresql+psycopg")
_ALEMBIC_LOCK: Final = threading.Lock()  # Alembic's commands share module globals: one at a time per process

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind of time stored)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC time on both databases: timestamptz on PostgreSQL, naive UTC text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive times (their zone is a guess); store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return UTC with its zone, whichever database stored it."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Base of every table; constraint names follow one convention so migrations can name them."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def sqlalchemy_url(url: str | URL) -> URL:
    """A SQLAlchemy URL, with plain postgresql:// (or postgres://) mapped to the psycopg 3 driver."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except sa_exc.ArgumentError as exc:
        raise SettingsError(f"invalid settings:\n  IOC_DATABASE_URL: cannot parse it ({exc})") from None
    if parsed.drivername in POSTGRES_DRIVERS:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.get_backend_name() != "sqlite":
        raise SettingsError(f"invalid settings:\n  IOC_DATABASE_URL: unsupported database {parsed.drivername!r}")
    return parsed


def database_url(settings: Settings) -> URL:
    """The database of these settings: IOC_DATABASE_URL, or the embedded SQLite file in IOC_DATA_DIR."""
    if settings.database_url is not None:
        return sqlalchemy_url(settings.database_url)
    return URL.create("sqlite+pysqlite", database=str((settings.data_dir / SQLITE_FILE).resolve()))


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per SQLite connection: WAL, foreign keys, busy timeout; transactions begun by us, not by the driver."""
    dbapi_connection.isolation_level = None  # the driver's own implicit BEGIN would be deferred (see _sqlite_on_begin)
    dbapi_connection.text_factory = decode_stored  # a text an older version stored undecodable is read, escaped
    cursor = dbapi_connection.cursor()
    try:
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", f"busy_timeout={BUSY_TIMEOUT_MS}", "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    """A write transaction takes the write lock at once (BEGIN IMMEDIATE), so it waits under the busy timeout
    instead of failing with 'database is locked' when it first writes; a read-only one stays deferred."""
    read_only = bool(connection.get_execution_options().get(_READ_ONLY, False))
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _json_dumps(value: Any) -> str:
    """A JSON column's value as stored, refused (InvalidInput) if it holds a lone surrogate or a NUL anywhere."""
    check_storable(value, where="a JSON value")
    return json.dumps(value)


def _json_loads(text: str | bytes) -> Any:
    """A JSON column's value as read, with any text stored before the input rule made displayable."""
    return displayable_json(json.loads(text))


def _check_parameters(
    _conn: Connection, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool
) -> tuple[str, Any]:
    """Before any statement reaches the database, whichever path built it: no text parameter may hold a lone
    surrogate or a NUL (SQLite would keep them, PostgreSQL fails on them), on both databases alike."""
    _check_texts(parameters)
    return statement, parameters


def _check_texts(parameters: Any) -> None:
    """check_storable on every text in a statement's parameters, however the driver call nests them (one row as a
    dict or tuple, many rows as a list of them, a batched INSERT's values as one flat tuple)."""
    if isinstance(parameters, str):
        check_storable(parameters, where="a text")
    elif isinstance(parameters, dict):
        for value in parameters.values():
            _check_texts(value)
    elif isinstance(parameters, list | tuple):
        for value in parameters:
            _check_texts(value)


def _create_engine(url: URL) -> Engine:
    """An engine for SQLite (pragmas and BEGIN handled by us) or PostgreSQL (pre-ping, connect timeout); on both,
    texts are checked before they are stored (ioc.inputs.check_storable) and JSON read is made displayable."""
    json_codec: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **json_codec)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    else:
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args, **json_codec)
    event.listen(engine, "before_cursor_execute", _check_parameters, retval=True)
    return engine


def _reason(exc: sa_exc.DBAPIError) -> str:
    """The driver's own message, first line only (no SQL, no parameters)."""
    text = str(exc.orig).strip() or type(exc.orig).__name__
    return text.splitlines()[0]


class Database:
    """One process's handle on the database: a pooled engine, write and read transactions, migrations."""

    def __init__(self, url: str | URL, *, embedded: bool = False, settings: Settings | None = None) -> None:
        self.url = sqlalchemy_url(url)
        self.embedded = embedded
        self.settings = settings  # the settings it was opened with (open_database): where changes are announced
        self.engine = _create_engine(self.url)
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.url.get_backend_name()

    def describe(self) -> str:
        """The database for messages: the SQLite file, or the URL with its password hidden."""
        if self.dialect == "sqlite":
            return f"SQLite file {self.url.database}"
        return self.url.render_as_string(hide_password=True).replace("+psycopg", "", 1)

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn a lost or refused connection into a DatabaseError naming the database (no traceback for users)."""
        try:
            yield
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise DatabaseError(f"database error on {self.describe()}: {_reason(exc)}") from exc
        except sa_exc.StatementError as exc:
            if isinstance(exc.orig, InvalidInput):  # refused by check_storable while binding a value
                raise exc.orig from None
            raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back entirely (nothing written) if it raises."""
        with self._translated(), self._writer.begin() as session:
            yield session

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads (on SQLite it takes no write lock); anything written is rolled back when
        it ends, and rows read stay usable (detached, not expired)."""
        with self._translated(), self._reader() as session:
            yield session

    def check(self) -> None:
        """Raise DatabaseError with a clear message when the database does not answer."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise DatabaseError(f"cannot reach the database at {self.describe()}: {_reason(exc)}") from None

    def _alembic_config(self, connection: Connection | None = None) -> Any:
        """Alembic's configuration built in code (no alembic.ini): our migrations folder and our connection."""
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        return config

    def head_revision(self) -> str:
        """The newest migration this code ships."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        if head is None:
            raise DatabaseError(f"no migrations found in {MIGRATIONS_DIR}")
        return str(head)

    def current_revision(self) -> str | None:
        """The migration the database is at, or None for a database never migrated."""
        from alembic.runtime.migration import MigrationContext

        with self._translated(), self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def is_current(self) -> bool:
        """Whether the database is at the newest migration this code ships."""
        return self.current_revision() == self.head_revision()

    def upgrade(self) -> tuple[str | None, str]:
        """Apply every pending migration in one transaction (serialised between processes); (before, after)."""
        from alembic import command

        with _ALEMBIC_LOCK, self._translated(), self.engine.begin() as connection:
            config = self._alembic_config(connection)
            command.upgrade(config, "head")
        before: str | None = config.attributes.get("before")
        after = self.current_revision()
        if before != after:
            log.info("database %s migrated from %s to %s", self.describe(), before or "empty", after)
        return before, after or ""

    def require_current(self) -> None:
        """Raise DatabaseError when the database is not at the newest migration (it needs `ioc db upgrade`)."""
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            raise DatabaseError(
                f"the database at {self.describe()} is at revision {current or 'none'}, this code needs {head}: "
                "run `ioc db upgrade`"
            )

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_database(settings: Settings, *, check: bool = True) -> Database:
    """The database of these settings (for the embedded SQLite file, the data folder made private and the file
    created 0600, which SQLite gives its -wal, -shm and -journal files too), checked to answer unless told not to."""
    url = database_url(settings)
    if settings.embedded_database and url.database:
        from ioc.datadir import private_file, secure_data_folder

        secure_data_folder(settings.data_dir)
        private_file(Path(url.database))
    elif url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    database = Database(url, embedded=settings.embedded_database, settings=settings)
    if check:
        try:
            database.check()
        except DatabaseError:
            database.close()
            raise
    return database
