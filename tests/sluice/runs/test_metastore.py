"""The metadata store keeps runs and files the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from sluice.errors import ConfigError
from sluice.runs.metastore import engine_for, get_run, list_runs, save_run
from sluice.runs.records import FileOutcome, FileStatus, RunReport
from tests.postgres import POSTGRES_URL, postgres_available


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    if not postgres_available():
        pytest.fail("PostgreSQL is expected on 127.0.0.1:5432 (database 'test')")
    return POSTGRES_URL


def _report(dataset: str, **counts: int) -> RunReport:
    files = [
        FileOutcome(
            uri="s3://b/a.csv",
            order=0,
            status=FileStatus.COMMITTED,
            sha256="ab" * 32,
            batch_id="sluice-x",
            rows_read=5,
            extra_columns=["x"],
        ),
        FileOutcome(uri="s3://b/b.csv.gz", order=1, status=FileStatus.FAILED, error="truncated"),
    ]
    return RunReport(
        run_id=str(uuid.uuid4()),
        dataset=dataset,
        source="s3://b",
        env="dev",
        started_at=datetime.now(timezone.utc),
        finished_at=datetime.now(timezone.utc),
        status="failed",
        files=files,
        stage_seconds={"commit": 0.5},
        warnings={"a:b": 1},
        **counts,
    )


def test_a_saved_run_reads_back_with_its_files_and_counts(store_url):
    dataset = f"ds_{uuid.uuid4().hex[:8]}"
    report = _report(dataset, rows_read=5, rows_written=3, rows_quarantined=1, rows_duplicate=1)
    with engine_for(store_url).begin() as conn:
        save_run(conn, report)
    with engine_for(store_url).connect() as conn:
        back = get_run(conn, report.run_id)
        listed = list_runs(conn, dataset=dataset)
    assert back is not None and [r.run_id for r in listed] == [report.run_id]
    assert (back.rows_read, back.rows_written, back.rows_quarantined, back.rows_duplicate) == (5, 3, 1, 1)
    assert [f.status for f in back.files] == [FileStatus.COMMITTED, FileStatus.FAILED]
    assert back.files[0].extra_columns == ["x"] and back.files[1].error == "truncated"
    assert back.stage_seconds == {"commit": 0.5} and back.started_at.tzinfo is not None


def test_saving_a_run_again_replaces_it(store_url):
    report = _report(f"ds_{uuid.uuid4().hex[:8]}", rows_read=1)
    engine = engine_for(store_url)
    with engine.begin() as conn:
        save_run(conn, report)
        report.rows_read = 2
        save_run(conn, report)
    with engine.connect() as conn:
        assert get_run(conn, report.run_id).rows_read == 2


def test_a_unique_prefix_finds_the_run_and_an_ambiguous_one_is_refused(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'm.db'}")
    a, b = _report("d"), _report("d")
    a.run_id, b.run_id = "abcd1111", "abcd2222"
    with engine.begin() as conn:
        save_run(conn, a)
        save_run(conn, b)
    with engine.connect() as conn:
        assert get_run(conn, "abcd1").run_id == "abcd1111"
        with pytest.raises(ConfigError, match="matches several runs"):
            get_run(conn, "abcd")


def test_a_store_made_before_the_keyed_counts_gains_their_columns(tmp_path):
    import sqlalchemy as sa

    from sluice.runs.metastore import engine_for, ingest_runs

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    with old.begin() as conn:  # the run table as it was, without rows_updated/deleted/unchanged
        columns = [c for c in ingest_runs.columns if c.name not in {"rows_updated", "rows_deleted", "rows_unchanged"}]
        defs = ", ".join(f"{c.name} {c.type.compile(dialect=old.dialect)}" for c in columns)
        conn.execute(sa.text(f"CREATE TABLE ingest_runs ({defs})"))

    engine_for(url)

    names = {c["name"] for c in sa.inspect(old).get_columns("ingest_runs")}
    assert {"rows_updated", "rows_deleted", "rows_unchanged"} <= names


def test_a_run_reads_back_with_the_flow_that_made_it(store_url):
    engine = engine_for(store_url)
    report = _report("flows")
    report.flow = "capture-changes"
    with engine.begin() as conn:
        save_run(conn, report)
    with engine.connect() as conn:
        found = get_run(conn, report.run_id)
    assert found is not None and found.flow == "capture-changes"


def test_a_store_made_before_runs_named_their_flow_gains_the_column_and_its_rows_read_without_one(tmp_path):
    import sqlalchemy as sa

    from sluice.runs.metastore import ingest_runs

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    before = _report("old")
    with old.begin() as conn:  # the run table as it was, without flow, and one run in it
        columns = [c for c in ingest_runs.columns if c.name != "flow"]
        defs = ", ".join(f"{c.name} {c.type.compile(dialect=old.dialect)}" for c in columns)
        conn.execute(sa.text(f"CREATE TABLE ingest_runs ({defs})"))
        row = {c.name: None for c in columns} | {
            "run_id": before.run_id,
            "dataset": "old",
            "source": "s3://b",
            "env": "dev",
            "status": "ok",
            "started_at": before.started_at,
            "stage_seconds": "{}",
            "warnings": "{}",
            "error": "",
        }
        row |= {c.name: 0 for c in columns if c.name.startswith(("rows_", "bytes_", "files_"))}
        conn.execute(sa.insert(sa.table("ingest_runs", *[sa.column(c.name) for c in columns])).values(**row))

    engine = engine_for(url)

    assert "flow" in {c["name"] for c in sa.inspect(old).get_columns("ingest_runs")}
    with engine.connect() as conn:
        found = get_run(conn, before.run_id)
    assert found is not None and found.flow == ""


def test_a_run_reads_back_with_its_held_and_orphaned_rows(store_url):
    engine = engine_for(store_url)
    report = _report(f"ds_{uuid.uuid4().hex[:8]}", rows_read=5, rows_held=3, rows_orphaned=4)
    with engine.begin() as conn:
        save_run(conn, report)
    with engine.connect() as conn:
        found = get_run(conn, report.run_id)
    assert found is not None and (found.rows_held, found.rows_orphaned) == (3, 4)
