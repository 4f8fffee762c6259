"""``ops lake rollback``: a restore by hand, refused for a version that does not exist, shown in the history."""

from __future__ import annotations

import json

from deltalake import DeltaTable

from sluice.runs.metastore import engine_for, get_run
from tests.ops.factories import invoke, run_report, save_runs, sluice_home, write_lake_commit


def _three_versions(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    for run in ("r1", "r2", "r3"):
        uri = write_lake_commit(settings, "orders", run_id=run, counts={"rows_read": 2})
    return settings, uri


def test_rollback_restores_the_version_records_the_reason_and_marks_the_runs(monkeypatch, tmp_path):
    settings, uri = _three_versions(monkeypatch, tmp_path)
    save_runs(settings, run_report("r2"), run_report("r3"))

    result = invoke("lake", "rollback", "orders", "--to-version", "0", "--reason", "bad export", "--yes", "-o", "json")

    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["outcome"]["restored"] and done["outcome"]["undone"] == [1, 2] and done["outcome"]["version"] == 3
    assert sorted(done["runs_marked"]) == ["r2", "r3"]
    assert DeltaTable(uri).to_pyarrow_table().num_rows == 2
    with engine_for(settings.metadata_db_url()).connect() as conn:
        r2 = get_run(conn, "r2")
    assert r2 is not None and r2.rows_rolled_back == r2.rows_written and r2.rollback_version == 3

    history = json.loads(invoke("lake", "history", "orders", "-o", "json").stdout)
    assert history[0]["operation"] == "RESTORE"
    assert history[0]["rollback"]["reason"] == "bad export" and history[0]["rollback"]["by"].startswith("user ")


def test_the_history_table_shows_the_rollback_and_its_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    _three_versions(monkeypatch, tmp_path)
    invoke("lake", "rollback", "orders", "--to-version", "1", "--reason", "bad export", "--yes")

    result = invoke("lake", "history", "orders")

    assert result.exit_code == 0
    assert "rollback of 2 to 1" in result.stdout and "bad export" in result.stdout


def test_a_version_that_does_not_exist_is_a_usage_error_with_a_hint(monkeypatch, tmp_path):
    _, uri = _three_versions(monkeypatch, tmp_path)

    result = invoke("lake", "rollback", "orders", "--to-version", "9", "--yes")

    assert result.exit_code == 2
    assert "version 9 does not exist: the table has versions 0 to 2" in result.stderr
    assert "ops lake history orders" in result.stderr and "Traceback" not in result.output
    assert DeltaTable(uri).version() == 2


def test_declining_the_confirmation_changes_nothing(monkeypatch, tmp_path):
    _, uri = _three_versions(monkeypatch, tmp_path)

    result = invoke("lake", "rollback", "orders", "--to-version", "0", input="n\n")

    assert result.exit_code == 1 and "rollback cancelled" in result.stderr
    assert DeltaTable(uri).version() == 2


def test_rolling_back_an_unknown_dataset_names_the_known_ones(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("lake", "rollback", "ordrs", "--to-version", "0", "--yes")

    assert result.exit_code == 1 and "did you mean 'orders'?" in result.stderr
