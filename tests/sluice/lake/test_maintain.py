"""Compaction and Z-ordering: fewer files, the same rows and batch ids, a checkpoint; bad Z-order columns refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable

from sluice.errors import LakeError
from sluice.lake.log import history
from sluice.lake.maintain import MIB, optimize_table
from tests.sluice.lake.maintained import DAYS, files_per_day, ingest_runs, rows


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory) -> Path:
    """A table of four small runs: four files on each of two dates (copied per test)."""
    root = tmp_path_factory.mktemp("small-runs")
    ingest_runs(root, 4)
    return root / "lake" / "orders"


@pytest.fixture()
def table(small_runs, tmp_path) -> str:
    import shutil

    return str(shutil.copytree(small_runs, tmp_path / "orders"))


def _batch_ids(uri: str) -> set[str]:
    return set(DeltaTable(uri).to_pyarrow_table(columns=["_batch_id"]).column("_batch_id").to_pylist())


def test_compaction_leaves_one_file_per_date_with_the_same_rows_and_a_checkpoint(table):
    before_rows, before_batches = rows(table), _batch_ids(table)
    assert files_per_day(table) == dict.fromkeys(DAYS, 4)

    result = optimize_table(table, target_size=16 * MIB, metadata={"run_id": "maint-1"})

    assert files_per_day(table) == dict.fromkeys(DAYS, 1)
    assert rows(table) == before_rows
    assert (result.files_before, result.files_after, result.files_removed, result.files_added) == (8, 2, 8, 2)
    assert result.partitions_touched == list(DAYS)
    assert result.version_after == result.version_before + 1 == DeltaTable(table).version()
    assert result.bytes_after < result.bytes_before
    assert result.checkpointed and (Path(table) / "_delta_log" / "_last_checkpoint").is_file()
    table_now = DeltaTable(table)
    assert all(table_now.transaction_version(b) == 1 for b in before_batches)  # reruns still skip their batches
    newest = history(table, limit=1)[0]
    assert newest.operation == "OPTIMIZE" and newest.run_id == "maint-1" and newest.metadata["stage"] == "compact"


def test_a_compacted_table_has_nothing_left_to_rewrite(table):
    optimize_table(table)
    version = DeltaTable(table).version()

    again = optimize_table(table)

    assert not again.changed and again.files_removed == 0 and not again.checkpointed
    assert DeltaTable(table).version() == version
    assert "nothing to rewrite" in again.summary


def test_z_order_clusters_each_date_on_its_columns_and_keeps_every_row(table):
    before = rows(table)

    result = optimize_table(table, zorder=["customer_id", "amount"])

    assert rows(table) == before and files_per_day(table) == dict.fromkeys(DAYS, 1)
    assert result.zorder == ["customer_id", "amount"] and result.changed
    assert history(table, limit=1)[0].metadata["stage"] == "zorder"


@pytest.mark.parametrize(
    ("columns", "said"),
    [
        (["customer"], "no column 'customer'; did you mean 'customer_id'?"),
        (["dt"], "'dt' is the table's partition column"),
        (["amount", "amount"], "named twice"),
    ],
)
def test_a_z_order_column_the_table_cannot_use_is_a_clear_error_and_changes_nothing(table, columns, said):
    version = DeltaTable(table).version()

    with pytest.raises(LakeError) as caught:
        optimize_table(table, zorder=columns)

    assert said in str(caught.value) and "maintenance.zorder" in caught.value.hint
    assert DeltaTable(table).version() == version


def test_optimizing_a_missing_table_says_so(tmp_path):
    with pytest.raises(LakeError, match="no Delta table"):
        optimize_table(str(tmp_path / "nothing"))
