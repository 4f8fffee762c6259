"""Manifests of database and change-capture commits: positions as inputs, keyed rewrites with removed files."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sluice.lake.log import vacuum
from sluice.lake.manifest_verify import Check, verify
from sluice.lake.table import table_uri
from sluice.sources.database_stage import last_position, stage_incremental
from tests.pgcluster import pg_logical  # noqa: F401 - the session fixture
from tests.sluice.sources.cdc.conftest import cdc_source  # noqa: F401 - fixture
from tests.sluice.sources.dbfixtures import (
    PG_DDL,
    PG_URL,
    commit,
    contract,
    pg_exec,
    pg_table,  # noqa: F401 - fixture
    request,
    spec,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _insert(table: str, ident: int, updated: datetime, note: str = "n") -> None:
    pg_exec(
        f'INSERT INTO "{table}" VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE '
        "SET note = EXCLUDED.note, updated_at = EXCLUDED.updated_at",
        (ident, f"C{ident:06d}", T0, 1.5, note, updated),
    )


def _run(settings, table: str, run_id: str, **overrides) -> None:
    s = spec(PG_URL, contract(**overrides), table=table, cursor="updated_at")
    req = request(settings, s, run_id)
    out = stage_incremental(req, last_position(req.lake_uri, s.source), 0.0)
    commit(settings, req, [out] if out else [])


def _manifest(uri: str, version: int) -> dict:
    return json.loads((Path(uri) / "_sluice_manifests" / f"{version}.json").read_text())["manifest"]


def test_an_incremental_database_commit_records_its_cursor_range(sluice_home, pg_table):
    pg_exec(PG_DDL.format(t=f'"{pg_table}"'))
    for i in range(1, 6):
        _insert(pg_table, i, T0 + timedelta(minutes=i))
    _run(sluice_home, pg_table, "db-1")
    uri = table_uri(sluice_home.lake_root(), "dbtest")

    [source] = _manifest(uri, 1)["inputs"]
    found = verify(uri, "dbtest", 1, None, {})

    assert source["sha256"] is None and source["position"] and pg_table in source["source"]
    assert (found.status, found.problems) == ("unsigned", [])


def test_a_keyed_rewrite_lists_its_removed_files_and_a_vacuumed_one_is_a_note(sluice_home, pg_table):
    pg_exec(PG_DDL.format(t=f'"{pg_table}"'))
    keyed = {"mode": "upsert", "order_by": "updated_at"}
    for i in range(1, 6):
        _insert(pg_table, i, T0 + timedelta(minutes=i))
    _run(sluice_home, pg_table, "db-1", **keyed)
    _insert(pg_table, 3, T0 + timedelta(hours=1), note="changed")
    _run(sluice_home, pg_table, "db-2", **keyed)
    uri = table_uri(sluice_home.lake_root(), "dbtest")
    first, second = _manifest(uri, 1), _manifest(uri, 2)

    assert second["removed"] and set(second["removed"]) <= {f["path"] for f in first["files"]}
    assert verify(uri, "dbtest", 2, None, {}).problems == []
    vacuum(uri, retention_hours=0, dry_run=False)
    after = verify(uri, "dbtest", 1, None, {})
    assert after.problems == [] and any("a vacuum deleted it" in n for n in after.notes)
    (Path(uri) / second["files"][0]["path"]).unlink()
    assert [p.kind for p in verify(uri, "dbtest", 2, None, {}).problems] == [Check.MISSING_FILE]


def test_each_commit_of_a_change_capture_gets_a_manifest_with_its_lsn_range(cdc_source, sluice_home):
    from deltalake import DeltaTable

    from sluice.sources.cdc.capture import capture

    with cdc_source.connect() as conn:
        for i in range(1, 7):
            conn.execute("INSERT INTO accounts (id, name) VALUES (%s, %s)", (i, f"n{i}"))
    sink = cdc_source.sink(sluice_home.home)

    reports = capture(cdc_source.spec(batch_changes=2), sink)

    latest = DeltaTable(sink.uri).version()
    found = [verify(sink.uri, sink.target_contract.name, v, None, {}) for v in range(1, latest + 1)]
    assert len(reports) > 1 and len(found) == len(reports)
    assert [(f.status, f.problems) for f in found] == [("unsigned", [])] * len(found)
    inputs = [i for v in range(1, latest + 1) for i in _manifest(sink.uri, v)["inputs"]]
    assert all(i["source"] == f"postgres-cdc:{cdc_source.slot}" and i["position"] for i in inputs)
