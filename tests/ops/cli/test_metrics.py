from __future__ import annotations

import csv
import json
from datetime import timedelta

import pyarrow.parquet as pq
import pytest

from ops.metrics.collect import REFERENCE_METRICS
from tests.ops.factories import (
    T0,
    closed_port_url,
    invoke,
    run_report,
    save_runs,
    sluice_home,
)

RANGE = ["--start", "2026-03-05T09:00:00Z", "--end", "2026-03-05T12:00:00Z"]


@pytest.fixture
def collected(monkeypatch, tmp_path):
    """Two runs of orders and one of customers, collected into the embedded store."""
    settings = sluice_home(monkeypatch, tmp_path)
    save_runs(
        settings,
        run_report("a"),
        run_report("b", started_at=T0 + timedelta(hours=1), rows_read=20, rows_written=17),
        run_report("c", dataset="customers"),
    )
    result = invoke("metrics", "collect", "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_collect_json_counts_new_samples_and_names_the_store(collected, tmp_path):
    again = json.loads(invoke("metrics", "collect", "-o", "json").stdout)

    # 8 samples a run, and the orders runs (2 of 3: orders references customers) their 3 reference metrics
    reference = len(REFERENCE_METRICS)
    assert collected == {"samples_written": 3 * 8 + 2 * reference, "store": str(tmp_path / "home" / "metrics")}
    assert again["samples_written"] == 0


def test_list_json_has_point_counts_and_time_ranges(collected):
    result = invoke("metrics", "list", 'sluice_rows_read{dataset="orders"}', "-o", "json")

    assert json.loads(result.stdout) == [
        {
            "metric": "sluice_rows_read",
            "labels": {"dataset": "orders", "environment": "dev", "flow": "ingest-files"},
            "points": 2,
            "first": "2026-03-05T10:00:42+00:00",
            "last": "2026-03-05T11:00:42+00:00",
        }
    ]


def test_list_without_selector_lists_every_series(collected):
    infos = json.loads(invoke("metrics", "list", "-o", "json").stdout)

    assert len(infos) == 2 * 8 + len(REFERENCE_METRICS)  # orders has the reference metrics too
    assert {i["labels"]["dataset"] for i in infos} == {"orders", "customers"}


def test_query_json_is_series_with_iso_points(collected):
    result = invoke("metrics", "query", 'sluice_rows_read{dataset="orders"}', *RANGE, "-o", "json")

    assert json.loads(result.stdout) == [
        {
            "metric": "sluice_rows_read",
            "labels": {"dataset": "orders", "environment": "dev", "flow": "ingest-files"},
            "points": [["2026-03-05T10:00:42+00:00", 10.0], ["2026-03-05T11:00:42+00:00", 20.0]],
        }
    ]


def test_query_with_step_and_since_relative_to_end(collected):
    result = invoke(
        "metrics",
        "query",
        'sluice_rows_written{dataset=~"ord.*"}',
        "--since",
        "3h",
        "--end",
        "2026-03-05T12:00:00Z",
        "--step",
        "1h",
        "-o",
        "json",
    )

    [series] = json.loads(result.stdout)
    assert series["points"] == [["2026-03-05T11:00:00+00:00", 7.0], ["2026-03-05T12:00:00+00:00", 17.0]]


def test_query_table_shows_series_times_and_values(collected, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")

    result = invoke("metrics", "query", "sluice_run_duration_seconds", *RANGE, "--tail", "1")

    assert result.exit_code == 0
    assert 'sluice_run_duration_seconds{dataset="customers"' in result.stdout
    assert "2026-03-05T11:00:42Z" in result.stdout and "42" in result.stdout
    assert "1 earlier points not shown" in result.stdout


def test_query_with_nothing_in_range_says_so(collected):
    result = invoke("metrics", "query", "sluice_rows_read", "--since", "1h")

    assert result.exit_code == 0 and "no points of sluice_rows_read" in result.stdout
    assert json.loads(invoke("metrics", "query", "sluice_rows_read", "-o", "json").stdout) == []


def test_export_csv_is_long_with_one_column_per_label(collected, tmp_path):
    out = tmp_path / "out" / "rows.csv"

    result = invoke("metrics", "export", '{__name__=~"sluice_rows_(read|written)"}', "--out", str(out), *RANGE)

    assert result.exit_code == 0 and "wrote 6 points of 4 series" in result.stdout
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["timestamp", "metric", "dataset", "environment", "flow", "value"]
    assert rows[0] == {
        "timestamp": "2026-03-05T10:00:42Z",
        "metric": "sluice_rows_read",
        "dataset": "customers",
        "environment": "dev",
        "flow": "ingest-files",
        "value": "10",
    }


def test_export_parquet_keeps_typed_timestamps(collected, tmp_path):
    out = tmp_path / "rows.parquet"

    invoke("metrics", "export", "sluice_rows_read", "--format", "parquet", "--out", str(out), *RANGE)

    table = pq.read_table(out)
    assert str(table.schema.field("timestamp").type) == "timestamp[ns, tz=UTC]"
    assert table.column("value").to_pylist() == [10.0, 10.0, 20.0]


def test_compact_json_reports_partitions(collected):
    invoke("metrics", "collect", "--since", "2026-03-05T11:00:00Z")  # nothing new, but proves ISO --since works

    result = json.loads(invoke("metrics", "compact", "-o", "json").stdout)

    assert result == {"partitions": 0, "files_before": 0, "files_after": 0}  # one file per partition already


def test_list_on_an_empty_store(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    assert json.loads(invoke("metrics", "list", "-o", "json").stdout) == []
    assert "no series match {} in" in invoke("metrics", "list").stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["query", "sluice_rows_read{dataset=orders}"], "expected a quoted value"),
        (["list", "rows read"], "bad selector"),
        (["query", "m", "--since", "an hour"], "invalid duration"),
        (["query", "m", "--since", "1h", "--start", "2026-03-05T00:00:00Z"], "either --since or --start"),
        (["query", "m", "--start", "2026-03-05T12:00:00Z", "--end", "2026-03-05T11:00:00Z"], "after it ends"),
        (["query", "m", "--step", "0s"], "is zero"),
        (["export", "m", "--out", "x.csv", "--format", "xlsx"], "is not csv or parquet"),
        (["export", "m"], "Missing option"),
        (["collect", "--since", "last week"], "neither a duration nor a time"),
    ],
)
def test_bad_arguments_exit_2_with_usage(monkeypatch, tmp_path, args, fragment):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("metrics", *args)

    assert result.exit_code == 2
    assert "Usage:" in result.output and fragment in " ".join(result.output.split()).replace("│", "")


def test_an_invalid_backend_setting_is_an_error_with_hint(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    monkeypatch.setenv("SLUICE_METRICS_BACKEND", "influx")

    result = invoke("metrics", "list")

    assert result.exit_code == 1
    assert "error: invalid settings: SLUICE_METRICS_BACKEND='influx' is not valid" in result.stderr
    assert "one of embedded, prometheus" in result.stderr
    assert "hint: fix or unset SLUICE_METRICS_BACKEND" in result.stderr


def test_an_unreachable_prometheus_is_an_error_with_hint(monkeypatch, tmp_path):
    sluice_home(
        monkeypatch,
        tmp_path,
        metrics_backend="prometheus",
        prometheus_url=closed_port_url().removesuffix("/api"),
        prometheus_timeout="2",
    )

    result = invoke("metrics", "query", "up", "-o", "json")

    assert result.exit_code == 1 and result.stdout == ""
    assert "error: cannot reach Prometheus at http://127.0.0.1:" in result.stderr
    assert "hint: check SLUICE_PROMETHEUS_URL" in result.stderr


def test_collect_into_prometheus_explains_that_it_is_scraped(monkeypatch, tmp_path):
    settings = sluice_home(
        monkeypatch, tmp_path, metrics_backend="prometheus", prometheus_url=closed_port_url().removesuffix("/api")
    )
    save_runs(settings, run_report("a"))

    result = invoke("metrics", "collect")

    assert result.exit_code == 1
    assert "written by scraping" in result.stderr and "hint: run the exporter" in result.stderr
