"""References in ``ingest-table``: orders of a PostgreSQL table arriving before their customers, under each policy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from deltalake import DeltaTable, write_deltalake
from prefect_dask import DaskTaskRunner

from sluice.lake import held
from sluice.lake.table import open_table, table_uri
from sluice.runs.metastore import engine_for, list_runs
from sluice.runs.records import FileStatus
from sluice.settings import get_settings
from tests.sluice.sources.dbfixtures import PG_DDL, PG_URL, contract, pg_exec, pg_table  # noqa: F401

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _home(tmp_path, monkeypatch, policy: str) -> None:
    folder = tmp_path / "contracts"
    folder.mkdir()
    body = contract().model_dump(mode="json", exclude_defaults=True)
    body["references"] = [{"columns": ["customer"], "to": "dbcust.customer_id", "policy": policy, "hold_timeout": "1h"}]
    (folder / "dbtest.yaml").write_text(yaml.safe_dump(body))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(folder))
    monkeypatch.setenv("SLUICE_DATABASES", f'{{"shop": "{PG_URL}"}}')
    get_settings(fresh=True)


def _insert(table: str, first: int, last: int) -> None:
    """Rows ``first``..``last``; row g's customer is C00000(g mod 5)."""
    pg_exec(
        f"INSERT INTO \"{table}\" SELECT g, 'C' || lpad((g %% 5)::text, 6, '0'), %s + g * interval '1 hour', g / 4.0, "
        "NULL, %s + g * interval '1 second' FROM generate_series(%s::int, %s::int) g",
        (T0, T0, first, last),
    )


def _customers(ids: list[int]) -> None:
    """Customers land by another writer: the parent's lake table is all a reference reads."""
    keys = pa.table({"customer_id": [f"C{i:06d}" for i in ids]})
    write_deltalake(table_uri(get_settings().lake_root(), "dbcust"), keys, mode="append")


def _ids() -> list[int]:
    table = open_table(table_uri(get_settings().lake_root(), "dbtest"))
    return [] if table is None else sorted(table.to_pyarrow_table(columns=["id"]).column("id").to_pylist())


def _held() -> int:
    table = open_table(held.held_uri(get_settings().lake_root(), "dbtest"))
    return 0 if table is None else table.to_pyarrow_table().num_rows


def _orphans_quarantined() -> int:
    uri = get_settings().quarantine_root()
    if open_table(uri) is None:
        return 0
    reasons = DeltaTable(uri).to_pyarrow_table(columns=["reason"]).column("reason")
    return int(pc.sum(pc.equal(reasons, "orphan_reference")).as_py() or 0)


def _releases() -> list:
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        return [r for r in list_runs(conn, dataset="dbtest", limit=100) if r.flow == "release-held"]


def run(address: str, table: str, **kwargs):
    from flows.ingest_table import ingest_table

    runner = DaskTaskRunner(address=address)
    return ingest_table.with_options(task_runner=runner)("dbtest", connection="shop", table=table, **kwargs)


def incremental(address: str, table: str):
    return run(address, table, mode="incremental", cursor="updated_at", lookback_seconds=0)


@pytest.mark.parametrize(
    ("policy", "written", "quarantined", "held_rows", "warned"),
    [("quarantine", 6, 4, 0, 0), ("warn", 10, 0, 0, 4), ("hold", 6, 0, 4, 0)],
)
def test_orders_before_their_customers_follow_the_policy_and_a_rerun_changes_nothing(
    prefect_api,
    dask_address,
    sluice_home,
    tmp_path,
    monkeypatch,
    pg_table,
    policy,
    written,
    quarantined,
    held_rows,
    warned,
):
    _home(tmp_path, monkeypatch, policy)
    pg_exec(PG_DDL.format(t=f'"{pg_table}"'))
    _insert(pg_table, 1, 10)  # customers C000000..C000004; C000000 and C000004 never land
    _customers([1, 2, 3])

    first = run(dask_address, pg_table)
    lake, orphans = _ids(), _orphans_quarantined()
    # The table did not change, but a snapshot is named by PostgreSQL's snapshot (xmin:xmax), which moves when
    # any transaction in the cluster commits: the rerun skips the committed batches, or reads them again.
    again = run(dask_address, pg_table)

    assert (first.status, first.rows_read, first.rows_orphaned) == ("completed", 10, 4)
    assert (first.rows_written, first.rows_quarantined, first.rows_held) == (written, quarantined, held_rows)
    assert first.warnings.get("customer:orphan_reference", 0) == warned
    assert (len(lake), orphans, _held()) == (written, quarantined, held_rows)
    reread = all(f.status is FileStatus.COMMITTED for f in again.files)
    assert again.status == "completed" and again.rows_written == 0
    assert (again.rows_quarantined, again.rows_held) == ((quarantined, held_rows) if reread else (0, 0))
    assert (_ids(), _held()) == (lake, held_rows)  # nothing lands twice; a held row is held once
    assert _orphans_quarantined() == orphans + again.rows_quarantined


def test_held_orders_land_with_their_customer_and_the_maintenance_expires_the_rest_once(
    prefect_api, dask_address, sluice_home, tmp_path, monkeypatch, pg_table
):
    from flows.lake_maintenance import lake_maintenance

    _home(tmp_path, monkeypatch, "hold")
    pg_exec(PG_DDL.format(t=f'"{pg_table}"'))
    _insert(pg_table, 1, 10)
    _customers([1, 2, 3])
    first = incremental(dask_address, pg_table)
    assert (first.rows_read, first.rows_written, first.rows_held, _held()) == (10, 6, 4, 4)

    _customers([4])
    incremental(dask_address, pg_table)  # nothing new to read: the run releases what the landing freed

    assert _ids() == [1, 2, 3, 4, 6, 7, 8, 9]
    assert _held() == 2
    assert [(r.rows_read, r.rows_written, r.rows_quarantined) for r in _releases()] == [(2, 2, 0)]

    # Two hours on, with no run of dbtest or of its parent, the maintenance quarantines the orders of C000000.
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    monkeypatch.setattr(held, "utcnow", lambda: later)
    result = lake_maintenance(optimize=False)
    again = lake_maintenance(optimize=False)

    assert [(r.dataset, r.rows_read, r.rows_quarantined) for r in result.releases] == [("dbtest", 2, 2)]
    assert again.releases == []
    assert (_ids(), _held(), _orphans_quarantined()) == ([1, 2, 3, 4, 6, 7, 8, 9], 0, 2)
    assert sorted((r.rows_written, r.rows_quarantined) for r in _releases()) == [(0, 2), (2, 0)]
