"""An incident store per test, on SQLite and on a fresh PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ops.incidents.db import open_engine
from tests.ops.channels import pagerduty, slack, tls_ca  # noqa: F401  (local PagerDuty and Slack)

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    name = f"sluice_incidents_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store (no schema yet), on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'incidents.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def incident_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        yield open_engine(f"sqlite:///{tmp_path / 'incidents.db'}")
        return
    with fresh_postgres_database() as url:
        engine = open_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture()
def postgres_incident_engine() -> Iterator[Engine]:
    """The store on PostgreSQL only: for races SQLite cannot have (its transactions lock from the first statement)."""
    with fresh_postgres_database() as url:
        engine = open_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()
