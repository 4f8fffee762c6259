"""Real tables for the database-source tests: unique names on the test PostgreSQL and MariaDB, dropped after."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from sluice.lake.commit import CommitOutcome, CommitTarget
from sluice.lake.table import table_uri
from sluice.settings import Settings
from sluice.sources.database import parse_url
from sluice.sources.database_read import TableSpec
from sluice.sources.database_stage import TableRequest, commit_table, prepare
from sluice.validate.contracts import Contract

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql://root@127.0.0.1:3306/test"


def pg_exec(sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def maria_exec(sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", database="test", autocommit=True)
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(sql, params)
        return list(cur.fetchall())


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def pg_table() -> Iterator[str]:
    name = unique("sl_pg")
    yield name
    pg_exec(f'DROP TABLE IF EXISTS "{name}" CASCADE')


@pytest.fixture()
def maria_table() -> Iterator[str]:
    name = unique("sl_my")
    yield name
    maria_exec(f"DROP TABLE IF EXISTS `{name}`")


def contract(**overrides: Any) -> Contract:
    """A small orders-like contract: id, customer, created_at (partition), amount, note, updated_at."""
    body: dict[str, Any] = {
        "name": "dbtest",
        "owner": "tests@sluice.example",
        "freshness_sla": "1d",
        "primary_key": ["id"],
        "partition": {"column": "created_at"},
        "columns": [
            {"name": "id", "type": "int64"},
            {"name": "customer", "type": "string"},
            {"name": "created_at", "type": "timestamp"},
            {"name": "amount", "type": "float64", "nullable": True},
            {"name": "note", "type": "string", "nullable": True},
            {"name": "updated_at", "type": "timestamp"},
        ],
    }
    body.update(overrides)
    return Contract.model_validate(body)


PG_DDL = (
    "CREATE TABLE {t} (id bigint PRIMARY KEY, customer text NOT NULL, created_at timestamptz NOT NULL, "
    "amount numeric(12,2), note text, updated_at timestamptz NOT NULL)"
)
MARIA_DDL = (
    "CREATE TABLE {t} (id bigint PRIMARY KEY, customer varchar(50) NOT NULL, created_at timestamp(6) NOT NULL, "
    "amount decimal(12,2), note text, updated_at timestamp(6) NOT NULL) CHARACTER SET utf8mb4"
)


def request(settings: Settings, spec: TableSpec, run_id: str) -> TableRequest:
    run_dir = settings.staging_root() / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    return prepare(
        spec,
        dataset=spec.contract.name,
        run_id=run_id,
        run_dir=str(run_dir),
        lake_uri=table_uri(settings.lake_root(), spec.contract.name),
        ingest_date=date(2026, 1, 1),
        chunk_rows=1000,
    )


def commit(settings: Settings, req: TableRequest, outcomes: list[Any]) -> CommitOutcome:
    target = CommitTarget(
        dataset=req.dataset,
        contract=req.spec.contract,
        run_id=req.run_id,
        staging_dir=Path(req.run_dir),
        lake_uri=req.lake_uri,
        quarantine_uri=f"{settings.quarantine_root()}",
    )
    return commit_table(target, req.spec.source, outcomes, metadata={"run_id": req.run_id})


def spec(url: str, c: Contract, **kw: Any) -> TableSpec:
    return TableSpec(url=parse_url(url), contract=c, **kw)
