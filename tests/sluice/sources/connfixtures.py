"""A table on a private PostgreSQL or MariaDB server, and its snapshot into the lake, for the connection tests."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import trustme
from cryptography import x509
from deltalake import DeltaTable

from sluice.settings import Settings
from sluice.sources.database import DatabaseUrl
from sluice.sources.database_read import TableSpec
from sluice.sources.database_stage import snapshot_table
from tests.mariadbserver import MariaDbServer
from tests.sluice.sources.dbfixtures import MARIA_DDL, PG_DDL, commit, contract, request

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
COLUMNS = ["id", "customer", "created_at", "amount", "note", "updated_at"]


def fill_table(conninfo: str, table: str, rows: int) -> None:
    """Create ``table`` on the server of ``conninfo`` with ``rows`` orders-like rows."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(PG_DDL.format(t=f'"{table}"'))
        conn.execute(
            f"INSERT INTO \"{table}\" SELECT g, 'C' || lpad(g::text, 6, '0'), %s + g * interval '1 hour', g / 4.0, "
            "CASE WHEN g %% 5 = 0 THEN NULL ELSE 'note ' || g END, %s + g * interval '1 second' "
            "FROM generate_series(1, %s) g",
            (T0, T0, rows),
        )


def source_rows(conninfo: str, table: str) -> list[dict[str, Any]]:
    """The table's rows as the lake should hold them (numeric as float), by id."""
    with psycopg.connect(conninfo) as conn:
        cur = conn.execute(f'SELECT {", ".join(COLUMNS)} FROM "{table}" ORDER BY id')
        rows = cur.fetchall()
    return [dict(zip(COLUMNS, (*r[:3], None if r[3] is None else float(r[3]), *r[4:]), strict=True)) for r in rows]


def lake_rows(settings: Settings, dataset: str = "dbtest") -> list[dict[str, Any]]:
    table = DeltaTable(f"{settings.lake_root()}/{dataset}").to_pyarrow_table()
    return sorted(table.select(COLUMNS).to_pylist(), key=lambda r: r["id"])


def snapshot_into_lake(settings: Settings, url: DatabaseUrl, table: str, run_id: str, parts: int = 2) -> None:
    """What ``ingest-table`` does for a snapshot, in this process: describe, stage the key ranges, commit."""
    req = request(settings, TableSpec(url=url, contract=contract(), table=table), run_id)
    outcomes = snapshot_table(req, parts)
    commit(settings, req, outcomes)


def fill_maria_table(server: MariaDbServer, database: str, table: str, rows: int) -> None:
    """Create ``database.table`` on a private MariaDB server with ``rows`` orders-like rows, as the PostgreSQL one."""
    server.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    server.execute(MARIA_DDL.format(t=f"`{table}`"), database=database)
    server.execute(
        f"INSERT INTO `{table}` SELECT seq, CONCAT('C', LPAD(seq, 6, '0')), %s + INTERVAL seq HOUR, seq / 4.0, "
        "IF(seq %% 5 = 0, NULL, CONCAT('note ', seq)), %s + INTERVAL seq SECOND FROM seq_1_to_{rows}".replace(
            "{rows}", str(rows)
        ),
        (T0.replace(tzinfo=None), T0.replace(tzinfo=None)),
        database=database,
    )


def maria_source_rows(server: MariaDbServer, database: str, table: str) -> list[dict[str, Any]]:
    """The table's rows as the lake should hold them (decimal as float, times in UTC), by id."""
    found = server.execute(f"SELECT {', '.join(COLUMNS)} FROM `{table}` ORDER BY id", database=database)
    utc = [
        (r[0], r[1], r[2].replace(tzinfo=timezone.utc), r[3], r[4], r[5].replace(tzinfo=timezone.utc)) for r in found
    ]
    return [dict(zip(COLUMNS, (*r[:3], None if r[3] is None else float(r[3]), *r[4:]), strict=True)) for r in utc]


def write_client(folder: Path, name: str, cert: trustme.LeafCert) -> None:
    """A client certificate and its key as ``folder/name.pem`` and ``folder/name.key`` (mode 0600)."""
    cert.cert_chain_pems[0].write_to_path(folder / f"{name}.pem")
    key = folder / f"{name}.key"
    cert.private_key_pem.write_to_path(key)
    key.chmod(0o600)  # libpq refuses a key others may read


def x509_subject(pem: Path) -> str:
    """A certificate's subject as MariaDB's ``REQUIRE SUBJECT`` spells it: ``/O=.../OU=.../CN=...``."""
    name = x509.load_pem_x509_certificate(pem.read_bytes()).subject
    return "".join(f"/{attr.rfc4514_attribute_name}={attr.value}" for attr in name)
