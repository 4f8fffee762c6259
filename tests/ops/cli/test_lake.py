from __future__ import annotations

import json
from pathlib import Path

from tests.ops.factories import invoke, sluice_home, write_lake_commit


def parquet_files(uri: str) -> set[Path]:
    return set(Path(uri).rglob("*.parquet"))


def test_history_json_has_version_time_run_counts_and_sources(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    write_lake_commit(settings, "orders", run_id="r1", counts={"rows_read": 3}, sources=2)
    write_lake_commit(settings, "orders", run_id="r2", counts={"rows_read": 5, "rows_quarantined": 1})

    result = invoke("lake", "history", "orders", "--output", "json")

    assert result.exit_code == 0
    commits = json.loads(result.stdout)
    assert [(c["version"], c["run_id"], c["source_files"]) for c in commits] == [(1, "r2", 1), (0, "r1", 2)]
    assert commits[0]["counts"] == {"rows_read": 5, "rows_quarantined": 1}
    assert commits[0]["operation"] == "WRITE"
    assert commits[0]["timestamp"].endswith("+00:00")


def test_history_limit(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    for run in ("r1", "r2", "r3"):
        write_lake_commit(settings, "orders", run_id=run, counts={"rows_read": 1})

    commits = json.loads(invoke("lake", "history", "orders", "--limit", "2", "-o", "json").stdout)

    assert [c["run_id"] for c in commits] == ["r3", "r2"]


def test_history_table_shows_run_and_counts(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    settings = sluice_home(monkeypatch, tmp_path)
    write_lake_commit(settings, "orders", run_id="r1", counts={"rows_read": 1234})

    result = invoke("lake", "history", "orders")

    assert result.exit_code == 0
    assert "r1" in result.stdout and "read 1,234" in result.stdout


def test_unknown_dataset_fails_with_suggestion_and_no_traceback(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("lake", "history", "ordrs")

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "error: unknown dataset 'ordrs'" in result.stderr
    assert "hint: did you mean 'orders'?" in result.stderr
    assert "Traceback" not in result.output


def test_known_dataset_without_table_says_to_ingest_first(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("lake", "vacuum", "customers", "--dry-run")

    assert result.exit_code == 1
    assert "run an ingestion of customers first" in result.stderr


def overwritten_table(monkeypatch, tmp_path) -> str:
    """A table whose first commit's files are no longer referenced."""
    settings = sluice_home(monkeypatch, tmp_path)
    write_lake_commit(settings, "orders", run_id="r1", counts={})
    return write_lake_commit(settings, "orders", run_id="r2", counts={}, mode="overwrite")


def test_vacuum_dry_run_lists_files_and_removes_none(monkeypatch, tmp_path):
    uri = overwritten_table(monkeypatch, tmp_path)
    before = parquet_files(uri)

    result = invoke("lake", "vacuum", "orders", "--retention-hours", "0", "--dry-run", "-o", "json")

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and len(report["files"]) == 1
    assert parquet_files(uri) == before


def test_vacuum_refused_at_the_prompt_removes_nothing(monkeypatch, tmp_path):
    uri = overwritten_table(monkeypatch, tmp_path)
    before = parquet_files(uri)

    result = invoke("lake", "vacuum", "orders", "--retention-hours", "0", input="n\n")

    assert result.exit_code == 1
    assert "cancelled; nothing was removed" in result.stderr
    assert parquet_files(uri) == before


def test_vacuum_confirmed_removes_unreferenced_files(monkeypatch, tmp_path):
    uri = overwritten_table(monkeypatch, tmp_path)

    result = invoke("lake", "vacuum", "orders", "--retention-hours", "0", input="y\n")

    assert result.exit_code == 0, result.output
    assert "removed 1 file(s)" in result.stdout
    assert len(parquet_files(uri)) == 1


def test_vacuum_yes_skips_the_prompt(monkeypatch, tmp_path):
    overwritten_table(monkeypatch, tmp_path)

    result = invoke("lake", "vacuum", "orders", "--retention-hours", "0", "--yes", "-o", "json")

    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["files"]) == 1
