"""A fresh database with a source table and a wal2json slot per test, on the session's private cluster."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from sluice.sources.cdc.capture import CaptureSpec
from sluice.sources.cdc.decode import TableRef
from sluice.sources.cdc.sink import ChangesTable
from sluice.validate.contracts import Contract, parse_contract
from tests.pgcluster import PgCluster, pg_logical  # noqa: F401 - the session fixture

ACCOUNTS = """
name: accounts
owner: tests@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: created_at}
columns:
  - {name: id, type: int64}
  - {name: created_at, type: timestamp}
  - {name: name, type: string, nullable: true}
  - {name: body, type: string, nullable: true}
  - {name: balance, type: float64, nullable: true}
  - {name: active, type: bool, nullable: true}
"""
ACCOUNTS_DDL = (
    "CREATE TABLE accounts (id bigint PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), "
    "name text, body text, balance double precision, active boolean)"
)


@dataclass
class CdcSource:
    """One test's database, slot and contract on the private cluster."""

    cluster: PgCluster
    database: str
    slot: str
    contract: Contract

    @property
    def dsn(self) -> str:
        return self.cluster.url(self.database)

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn, autocommit=True)

    def spec(self, table: str = "accounts", batch_changes: int = 10_000, **kw: object) -> CaptureSpec:
        return CaptureSpec(self.dsn, self.slot, TableRef("public", table, self.contract, **kw), batch_changes)  # type: ignore[arg-type]

    def sink(self, home: Path, **kw: object) -> ChangesTable:
        return ChangesTable(self.contract, str(home / "lake"), home / "staging", str(home / "quarantine"), **kw)  # type: ignore[arg-type]


def make_source(cluster: PgCluster, ddl: str, contract_yaml: str) -> Iterator[CdcSource]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(cluster.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    source = CdcSource(cluster, name, f"s_{name}", parse_contract(contract_yaml))
    with source.connect() as conn:
        conn.execute(ddl)
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (source.slot,))
    try:
        yield source
    finally:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s "
                "AND active_pid IS NOT NULL",
                (source.slot,),
            )
            admin.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                (source.slot,),
            )
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture()
def cdc_source(pg_logical: PgCluster) -> Iterator[CdcSource]:
    yield from make_source(pg_logical, ACCOUNTS_DDL, ACCOUNTS)
