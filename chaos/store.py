"""The chaos store: the drill journal's own tables, declarative base and migrations.

Drills are kept in the incident store's database (``SLUICE_INCIDENTS_URL``, or
``<SLUICE_HOME>/incidents.db``), so ``ops chaos report`` and ``ops incident``
read one database, but the tables are chaos's own: models derive from
:class:`ChaosBase` (not from the incident store's ``Base``) and the schema is
brought up to date by chaos's own Alembic history (``chaos/migrations``, version
table ``chaos_store_version``), never by the incident store's.

The table ``chaos_drills`` was first created by the incident store's revision
``0002``. Chaos's revision ``0001`` creates it only where it is missing, and the
incident store's ``0002`` does the same, so either may run first: a store the
incident migrations brought up to date keeps its drills, and a store where they
never ran gets the table all the same.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

from ops.incidents.db import create_store_engine, store_url
from sluice.settings import get_settings

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "chaos_store_version"
MIGRATION_LOCK = 0xC4A0_5D_1C1
"""The PostgreSQL advisory lock key held while the chaos store's schema is migrated."""
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class ChaosBase(DeclarativeBase):
    """Declarative base of the chaos store's tables (their metadata holds no incident table)."""


def chaos_store_url() -> str:
    """The chaos store's URL: the incident store's database."""
    return store_url(get_settings().home)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the chaos tables to ``revision``, the newest by default (a no-op when they are current)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def open_chaos_engine(url: str | None = None) -> Engine:
    """An engine on the chaos store at ``url`` (default :func:`chaos_store_url`), migrated; one per URL and process.

    Only the chaos tables are migrated here: the incident tables of the same
    database are the incident store's to create.
    """
    url = url or chaos_store_url()
    with _lock:
        if url in _engines:
            return _engines[url]
        engine = create_store_engine(url)
        migrate(engine)
        _engines[url] = engine
        return engine
