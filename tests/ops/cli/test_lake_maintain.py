"""``ops lake stats`` and ``ops lake optimize``: figures from the log, compaction by hand, bad columns exit 2."""

from __future__ import annotations

import dataclasses
import json

from deltalake import ColumnProperties, DeltaTable, WriterProperties, write_deltalake

from sluice.lake.table import table_uri
from tests.ops.factories import invoke, sluice_home
from tests.sluice.lake.commit_worker import run
from tests.sluice.lake.maintained import files_per_day, order_file, rows, run_spec


def _three_runs(monkeypatch, tmp_path) -> str:
    settings = sluice_home(monkeypatch, tmp_path)
    uri = table_uri(settings.lake_root(), "orders")
    for i in range(3):
        spec = dataclasses.replace(run_spec(tmp_path, f"run-{i}", [order_file(tmp_path, i, rows=4)]), lake_uri=uri)
        assert run(spec)["error"] == ""
    return uri


def test_optimize_z_orders_by_hand_and_stats_then_show_one_file_a_date_with_column_bounds(monkeypatch, tmp_path):
    uri = _three_runs(monkeypatch, tmp_path)
    before = rows(uri)
    stats = json.loads(invoke("lake", "stats", "orders", "-o", "json").stdout)
    assert (stats["rows"], stats["files"], stats["largest_partition_files"]) == (24, 6, 3)

    result = invoke("lake", "optimize", "orders", "--zorder", "customer_id", "--target-size", "8", "-o", "json")

    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert (done["files_before"], done["files_after"], done["target_size"]) == (6, 2, 8 * 1024 * 1024)
    assert done["zorder"] == ["customer_id"] and done["lease_token"] is not None
    assert rows(uri) == before and set(files_per_day(uri).values()) == {1}
    after = json.loads(invoke("lake", "stats", "orders", "-o", "json").stdout)
    order_id = next(c for c in after["columns"] if c["name"] == "order_id")
    assert (after["files"], order_id["nulls"], order_id["complete"]) == (2, 0, True)


def test_stats_table_fits_80_columns_and_says_what_to_do_about_files_without_statistics(monkeypatch, tmp_path):
    uri = _three_runs(monkeypatch, tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    complete = invoke("lake", "stats", "orders")
    # another writer's file without statistics for one column
    no_stats = WriterProperties(column_properties={"customer_id": ColumnProperties(statistics_enabled="NONE")})
    write_deltalake(uri, DeltaTable(uri).to_pyarrow_table().slice(0, 2), mode="append", writer_properties=no_stats)

    result = invoke("lake", "stats", "orders")

    assert complete.exit_code == 0 and "24 rows in 6 file(s)" in complete.stdout
    assert "ops lake optimize" not in complete.stdout and "some files" not in complete.stdout
    assert result.exit_code == 0 and "26 rows in 7 file(s)" in result.stdout
    assert "`ops lake optimize` rewrites" in " ".join(result.stdout.split())
    columns = json.loads(invoke("lake", "stats", "orders", "-o", "json").stdout)["columns"]
    assert [c["name"] for c in columns if not c["complete"]] == ["customer_id"]
    assert max(len(line) for line in result.stdout.splitlines() + complete.stdout.splitlines()) <= 80


def test_a_z_order_column_the_table_lacks_exits_2_with_a_guess_and_changes_nothing(monkeypatch, tmp_path):
    uri = _three_runs(monkeypatch, tmp_path)
    before = files_per_day(uri)

    result = invoke("lake", "optimize", "orders", "--zorder", "customer")

    assert result.exit_code == 2
    assert "did you mean 'customer_id'" in result.output and "ops lake stats" in result.output
    assert files_per_day(uri) == before


def test_stats_of_an_unknown_dataset_exits_1_with_the_known_ones(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("lake", "stats", "ordres")

    assert result.exit_code == 1 and "did you mean 'orders'" in result.output
