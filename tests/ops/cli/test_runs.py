from __future__ import annotations

import json
from datetime import timedelta

from sluice.runs.records import FileStatus
from tests.ops.factories import (
    T0,
    file_outcome,
    invoke,
    run_report,
    save_runs,
    sluice_home,
)


def test_list_json_newest_first_with_counts_and_conservation(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    save_runs(settings, run_report("old"), run_report("new", started_at=T0 + timedelta(hours=1), rows_read=11))

    result = invoke("runs", "list", "--output", "json")

    assert result.exit_code == 0
    runs = json.loads(result.stdout)
    assert [(r["run_id"], r["conserved"]) for r in runs] == [("new", False), ("old", True)]
    assert runs[1] == {
        "run_id": "old",
        "dataset": "orders",
        "status": "completed",
        "started_at": "2026-03-05T10:00:00+00:00",
        "finished_at": "2026-03-05T10:00:42+00:00",
        "rows_read": 10,
        "rows_written": 7,
        "rows_quarantined": 2,
        "rows_duplicate": 1,
        "files_committed": 1,
        "files_skipped": 0,
        "files_failed": 0,
        "conserved": True,
    }


def test_list_filters_by_dataset_and_limit(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    save_runs(
        settings,
        run_report("a", dataset="orders"),
        run_report("b", dataset="customers"),
        run_report("c", dataset="orders", started_at=T0 + timedelta(minutes=1)),
    )

    only_orders = json.loads(invoke("runs", "list", "--dataset", "orders", "-o", "json").stdout)
    latest = json.loads(invoke("runs", "list", "--limit", "1", "-o", "json").stdout)

    assert [r["run_id"] for r in only_orders] == ["c", "a"]
    assert [r["run_id"] for r in latest] == ["c"]


def test_list_with_no_runs_is_empty(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    assert json.loads(invoke("runs", "list", "-o", "json").stdout) == []


def test_show_json_has_files_with_status_and_conservation(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    files = [
        file_outcome("s3://drop/a.csv"),
        file_outcome("s3://drop/b.csv", status=FileStatus.FAILED, error="truncated gzip", rows_read=0),
    ]
    save_runs(settings, run_report("r1", rows_read=12, files=files))

    result = invoke("runs", "show", "r1", "-o", "json")

    run = json.loads(result.stdout)
    assert [(f["uri"], f["status"], f["error"]) for f in run["files"]] == [
        ("s3://drop/a.csv", "committed", ""),
        ("s3://drop/b.csv", "failed", "truncated gzip"),
    ]
    assert run["files_failed"] == 1
    assert run["conservation"] == {"holds": False, "rows_read": 12, "rows_accounted": 10}
    assert run["started_at"] == "2026-03-05T10:00:00+00:00"


def test_show_table_shows_failed_file_errors_and_conservation(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    settings = sluice_home(monkeypatch, tmp_path)
    files = [file_outcome("s3://drop/b.csv", status=FileStatus.FAILED, error="truncated gzip")]
    save_runs(settings, run_report("r1", files=files))

    result = invoke("runs", "show", "r1")

    assert result.exit_code == 0
    assert "truncated gzip" in result.stdout and "failed" in result.stdout
    assert "yes (10 read, 10 written + quarantined + duplicate)" in result.stdout


def test_show_unknown_run_fails_with_hint(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("runs", "show", "nope")

    assert result.exit_code == 1
    assert "error: no run 'nope'" in result.stderr and "ops runs list" in result.stderr


def _big_runs(settings) -> None:
    big = run_report("4060bb8f-5ecb", dataset="customers", rows_read=20_000_000, rows_written=19_012_345)
    big.rows_quarantined, big.rows_duplicate = 600_123, 387_532
    save_runs(settings, big, run_report("3a590be7", rows_read=11, started_at=T0 + timedelta(hours=1)))


def test_list_prints_every_count_whole_within_80_columns(monkeypatch, tmp_path):
    from ops.cli._utilities import console

    _big_runs(sluice_home(monkeypatch, tmp_path))
    monkeypatch.setattr(console, "_width", 80)  # a terminal 80 columns wide

    out = invoke("runs", "list").stdout

    assert max(len(line) for line in out.splitlines()) <= 80
    for number in ("20,000,000", "19,012,345", "600,123", "387,532"):
        assert number in out
    assert "customers" in out and "NO" in out  # the run whose counts do not add up is flagged


def test_list_wide_keeps_start_times_and_file_counts_on_a_narrow_terminal(monkeypatch, tmp_path):
    from ops.cli._utilities import console

    _big_runs(sluice_home(monkeypatch, tmp_path))
    monkeypatch.setattr(console, "_width", 80)  # a terminal 80 columns wide

    narrow, wide = invoke("runs", "list").stdout, invoke("runs", "list", "--wide").stdout

    assert "Started" not in narrow and "2026-03-05T10:00:00Z" in wide and "1/0/0" in wide
    assert "20,000,000" in wide and "customers" in wide and console.width == 80


def test_an_upsert_run_counts_updated_deleted_and_unchanged_rows_as_accounted_for(monkeypatch, tmp_path):
    from dataclasses import replace

    from ops.cli._utilities import console

    monkeypatch.setattr(console, "_width", 200)  # a wide terminal: the conservation line stays on one line
    settings = sluice_home(monkeypatch, tmp_path)
    keyed = replace(run_report("u1", rows_read=20, rows_written=4), rows_updated=9, rows_deleted=2, rows_unchanged=2)
    save_runs(settings, keyed)

    listed = json.loads(invoke("runs", "list", "--output", "json").stdout)
    shown = invoke("runs", "show", "u1").stdout

    assert [r["conserved"] for r in listed] == [True]
    assert "rows_updated" in shown and "rows_deleted" in shown and "rows_unchanged" in shown
    assert "yes (20 read, 20 written + updated + deleted + unchanged + quarantined + duplicate)" in shown


def test_show_prints_what_the_source_says_beside_what_was_read_and_keeps_both_in_json(monkeypatch, tmp_path):
    from sluice.runs.completeness import TotalsCheck

    settings = sluice_home(monkeypatch, tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    report = run_report("r1", files=[file_outcome(status=FileStatus.FAILED, error="control totals disagree")])
    report.control_totals = [
        TotalsCheck("s3://drop/orders/a.csv", "s3://drop/orders/a.csv.manifest.json", 1_000, 900, policy="strict"),
        TotalsCheck("s3://drop/orders/b.csv", "", 50, 50, "amount", 12.5, 12.5, policy="strict"),
    ]
    save_runs(settings, report)

    table = invoke("runs", "show", "r1")
    data = json.loads(invoke("runs", "show", "r1", "-o", "json").stdout)

    assert table.exit_code == 0, table.output
    assert "control totals" in table.stdout and "1,000 rows" in table.stdout and "900 rows" in table.stdout
    assert "disagree (strict)" in table.stdout and "agree" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert [(c["source_rows"], c["read_rows"], c["read_sum"]) for c in data["control_totals"]] == [
        (1_000, 900, None),
        (50, 50, 12.5),
    ]


def test_show_says_why_a_stream_span_is_not_comparable(monkeypatch, tmp_path):
    from ops.cli._utilities import console
    from sluice.runs.completeness import TotalsCheck

    monkeypatch.setattr(console, "_width", 200)
    settings = sluice_home(monkeypatch, tmp_path)
    report = run_report("k1", rows_read=40, rows_written=40)
    report.control_totals = [
        TotalsCheck("kafka:t t/0 0..19", "offsets 0..19, each delivered", 20, 20, policy="strict"),
        TotalsCheck("kafka:t t/1 0..24", "", None, 20, policy="strict", not_comparable="cleanup.policy=compact"),
    ]
    save_runs(settings, report)

    shown = invoke("runs", "show", "k1").stdout
    data = json.loads(invoke("runs", "show", "k1", "-o", "json").stdout)

    assert "not comparable: cleanup.policy=compact" in shown and "agree" in shown and "disagree" not in shown
    assert [c["not_comparable"] for c in data["control_totals"]] == ["", "cleanup.policy=compact"]


def test_a_run_that_held_rows_for_their_parent_counts_them_as_accounted_for(monkeypatch, tmp_path):
    from dataclasses import replace

    from ops.cli._utilities import console

    monkeypatch.setattr(console, "_width", 200)
    settings = sluice_home(monkeypatch, tmp_path)
    held = replace(run_report("h1", rows_read=20, rows_written=12), rows_held=5, rows_orphaned=6)
    save_runs(settings, held)

    listed = json.loads(invoke("runs", "list", "--output", "json").stdout)
    shown = invoke("runs", "show", "h1").stdout

    assert [r["conserved"] for r in listed] == [True]
    assert "rows_held" in shown and "rows_orphaned" in shown
    assert "yes (20 read, 20 written + quarantined + duplicate + held)" in shown
