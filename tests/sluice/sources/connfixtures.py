"""A table on a private cluster, and its snapshot into the lake, for the connection tests (TLS, bastion, Secret)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import psycopg
from deltalake import DeltaTable

from sluice.settings import Settings
from sluice.sources.database import DatabaseUrl
from sluice.sources.database_read import TableSpec
from sluice.sources.database_stage import snapshot_table
from tests.sluice.sources.dbfixtures import PG_DDL, commit, contract, request

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
