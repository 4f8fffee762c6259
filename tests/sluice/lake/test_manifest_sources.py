"""Manifests of database commits: cursor positions as inputs, keyed rewrites with their removed files."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sluice.lake.log import vacuum
from sluice.lake.manifest_verify import Check, verify
from sluice.lake.table import table_uri
from sluice.sources.database_stage import last_position, stage_incremental
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
