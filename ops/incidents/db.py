"""Where the incident store lives, and bringing its schema up to date.

``SLUICE_INCIDENTS_URL`` is a SQLAlchemy URL: SQLite by default
(``<SLUICE_HOME>/incidents.db``), or PostgreSQL
(``postgresql+psycopg://user@host/db``). The schema is migrated to the newest
Alembic revision the first time a process opens the store; on PostgreSQL the
migration holds an advisory lock, so processes opening a new store at once
migrate it one after the other.

**Concurrent writers on SQLite.** Every transaction starts with ``BEGIN
IMMEDIATE``, taking the database's write lock up front, and a connection waits
up to :data:`SQLITE_BUSY_SECONDS` for it. Writers from several processes
therefore queue instead of failing with "database is locked", and a
transaction never reads a state that another writer changes before it
commits. (Python's ``sqlite3`` would otherwise begin a transaction only at the
first write, after the reads it decided on.) On PostgreSQL, correctness under
concurrency comes from the statements themselves: the partial unique index on
open dedup keys, atomic increments and compare-and-set transitions
(:mod:`ops.incidents.service`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from sluice.settings import get_settings

MIGRATIONS = Path(__file__).with_name("migrations")
_engines: dict[str, Engine] = {}
_lock = threading.Lock()
SQLITE_BUSY_SECONDS = 60.0
"""How long a SQLite connection waits for another writer's lock before giving up."""
MIGRATION_LOCK = 0x51_7CE_1C1
"""The PostgreSQL advisory lock key held while the store's schema is migrated."""


def store_url(home: Path) -> str:
    """The incident store's URL: ``SLUICE_INCIDENTS_URL``, or SQLite under ``home``."""
    return get_settings().incidents.store_url(home)


def store_identity(url: str | sa.URL) -> str:
    """Eight hex digits that name the store at ``url``: one value for one database, whatever the driver or login.

    Prefect artifacts of incidents carry it in their keys, so incident 3 of
    one store never replaces incident 3 of another. A SQLite store is named
    by its file's absolute path; any other by its host, port and database.
    """
    found = sa.engine.make_url(url)
    backend = found.get_backend_name()
    if backend == "sqlite":
        where = str(Path(found.database).resolve()) if found.database and found.database != ":memory:" else ":memory:"
    else:
        where = f"{found.host or ''}:{found.port or ''}/{found.database or ''}"
    return hashlib.sha256(f"{backend}:{where}".encode()).hexdigest()[:8]


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision``, the newest by default (a no-op when it is current)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _sqlite_connect(dbapi_connection: object, _record: object) -> None:
    # SQLAlchemy's "begin" event below emits BEGIN IMMEDIATE; sqlite3 must not begin transactions itself.
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_store_engine(url: str) -> Engine:
    """A new engine on the store at ``url``, set up for concurrent writers, without migrating it."""
    if sa.engine.make_url(url).get_backend_name() == "sqlite":
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"timeout": SQLITE_BUSY_SECONDS})
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def open_engine(url: str) -> Engine:
    """An engine on a migrated store; one per URL and process."""
    with _lock:
        if url in _engines:
            return _engines[url]
        engine = create_store_engine(url)
        migrate(engine)
        _engines[url] = engine
        return engine


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back if it raises."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
