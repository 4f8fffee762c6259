"""``ops report cost`` and ``ops report rightsize`` on a real SQLite metadata store."""

from __future__ import annotations

import json

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.runs.metastore import engine_for, ingest_runs
from tests.ops.factories import invoke, save_runs, sluice_home
from tests.ops.reports.cost_factories import GB, measured_run

RATES = {
    "COST_READ_PER_GB": '{"s3": 0.09, "s3:eu-west-1": 0.02}',
    "COST_WRITTEN_PER_GB": "0.023",
    "COST_CPU_HOUR": "0.05",
    "COST_MEMORY_GB_HOUR": "0.005",
}


def test_cost_json_totals_the_priced_runs_by_region(monkeypatch, tmp_path):
    home = sluice_home(monkeypatch, tmp_path, **RATES)
    save_runs(home, measured_run("a"), measured_run("b", region="us-east-1", dataset="customers"))

    result = invoke("report", "cost", "--since", "7d", "--by", "region", "-o", "json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    lines = {line["key"]: line for line in report["lines"]}
    assert set(lines) == {"s3:eu-west-1", "s3:us-east-1"}
    assert report["total"]["runs"] == 2 and report["total"]["bytes_read"] == 4 * GB
    each = 0.023 + 0.1 + 0.02  # written, CPU, memory of one run
    assert report["total"]["total_cost"] == round(2 * 0.02 + 2 * 0.09 + 2 * each, 10)
    assert report["currency"] == "USD"


def test_cost_table_fits_80_columns_and_ends_with_the_total(monkeypatch, tmp_path):
    home = sluice_home(monkeypatch, tmp_path, **RATES)
    save_runs(home, *(measured_run(f"r{i}", dataset=f"dataset_with_a_long_name_{i}") for i in range(3)))

    result = invoke("report", "cost", "--dataset", "dataset_with_a_long_name_1")

    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "total" in result.output and "dataset_with_a_long_name_1" in result.output
    assert "dataset_with_a_long_name_2" not in result.output


def test_cost_without_runs_says_what_to_try(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("report", "cost", "--since", "1d")

    assert result.exit_code == 0
    assert "nothing to price" in result.output and "--since" in result.output


def test_rightsize_json_gives_the_hint_and_its_reason(monkeypatch, tmp_path):
    home = sluice_home(monkeypatch, tmp_path)
    save_runs(home, *(measured_run(f"r{i}", peak_memory_bytes=GB // 2) for i in range(5)))

    result = invoke("report", "rightsize", "--dataset", "orders", "-o", "json")

    assert result.exit_code == 0, result.output
    (hint,) = json.loads(result.stdout)
    assert hint["runs"] == 5 and hint["worker_memory_bytes"] is not None
    assert hint["reasons"][0].startswith("p95 peak memory 476.8 MiB on 2 worker(s) of 3.7 GiB")


def test_rightsize_table_says_when_history_is_too_short(monkeypatch, tmp_path):
    home = sluice_home(monkeypatch, tmp_path)
    save_runs(home, measured_run("only"))

    result = invoke("report", "rightsize")

    assert result.exit_code == 0, result.output
    assert "history too short" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.text(max_size=40).filter(_not_json))
def test_a_corrupt_run_record_gives_a_clear_message_not_a_traceback(monkeypatch, tmp_path_factory, garbage):
    home = sluice_home(monkeypatch, tmp_path_factory.mktemp("corrupt"))
    save_runs(home, measured_run("broken"))
    with engine_for(home.metadata_db_url()).begin() as conn:
        conn.execute(sa.update(ingest_runs).values(stage_seconds=garbage))

    for command in ("cost", "rightsize"):
        result = invoke("report", command, "-o", "json")

        assert result.exit_code == 1
        assert "a run record in the metadata store cannot be read" in result.output
        assert "Traceback" not in result.output
