"""Where the incident store lives, and bringing its schema up to date.

``SLUICE_INCIDENTS_URL`` is a SQLAlchemy URL: SQLite by default
(``<SLUICE_HOME>/incidents.db``), or PostgreSQL
(``postgresql+psycopg://user@host/db``). The schema is migrated to the newest
Alembic revision the first time a process opens the store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).with_name("migrations")
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class IncidentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="ignore")

    incidents_url: str | None = None


def store_url(home: Path) -> str:
    """The incident store's URL: ``SLUICE_INCIDENTS_URL``, or SQLite under ``home``."""
    return IncidentSettings().incidents_url or f"sqlite:///{home / 'incidents.db'}"


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision (a no-op when it is current)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _sqlite_foreign_keys(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_engine(url: str) -> Engine:
    """An engine on a migrated store; one per URL and process."""
    with _lock:
        if url in _engines:
            return _engines[url]
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, pool_pre_ping=True)
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_foreign_keys)
        migrate(engine)
        _engines[url] = engine
        return engine


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back if it raises."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
