"""Lake commits: dedup keeps the first occurrence, batch ids make reruns no-ops."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from pyarrow import feather

from sluice.lake.log import history
from sluice.lake.table import DayWriters, committed_batches, lake_schema
from sluice.lake.write import commit_partitions
from sluice.settings import Settings
from sluice.sources.files import batch_id
from sluice.validate.contracts import find_contract

ORDERS = find_contract("orders", Settings().contracts_root())


def _staged(path: Path, ids: list[int], day: str, tag: str) -> Path:
    schema = lake_schema(ORDERS)
    n = len(ids)
    cols = {f.name: pa.nulls(n, f.type) for f in schema}
    cols["order_id"] = pa.array(ids, pa.int64())
    cols["dt"] = pa.array([date.fromisoformat(day)] * n, pa.date32())
    cols["status"] = pa.array([tag] * n)
    cols["_source_row"] = pa.array(range(2, n + 2), pa.int64())
    path.parent.mkdir(parents=True, exist_ok=True)
    feather.write_feather(pa.table(cols, schema=schema), path)
    return path


def test_duplicates_within_a_run_keep_the_first_occurrence_in_source_order(tmp_path):
    a = _staged(tmp_path / "s" / "a.arrow", [1, 2, 3, 2], "2024-03-05", "first")
    b = _staged(tmp_path / "s" / "b.arrow", [3, 4], "2024-03-05", "second")
    uri = str(tmp_path / "lake" / "orders")

    result = commit_partitions(
        uri, ORDERS, {"b1": [a, b]}, work_dir=tmp_path / "w1", batch_ids=["b1"], metadata={"run_id": "r1"}
    )

    assert (result.rows_written, result.duplicates_in_run, result.duplicates_in_lake) == (4, 2, 0)
    rows = {r["order_id"]: r["status"] for r in DeltaTable(uri).to_pyarrow_table().to_pylist()}
    assert rows == {1: "first", 2: "first", 3: "first", 4: "second"}


def test_a_key_seen_on_two_dates_is_kept_on_both(tmp_path):
    a = _staged(tmp_path / "a.arrow", [5], "2024-03-05", "x")
    b = _staged(tmp_path / "b.arrow", [5], "2024-03-07", "y")
    uri = str(tmp_path / "lake" / "orders")
    result = commit_partitions(uri, ORDERS, {"b": [a, b]}, work_dir=tmp_path / "w3", batch_ids=["b1"], metadata={})
    assert (result.rows_written, result.duplicates_in_run) == (2, 0)


def test_rows_already_in_an_existing_partition_are_merged_not_duplicated(tmp_path):
    uri = str(tmp_path / "lake" / "orders")
    commit_partitions(
        uri,
        ORDERS,
        {"b": [_staged(tmp_path / "1.arrow", [1, 2], "2024-03-05", "x")]},
        work_dir=tmp_path / "w1",
        batch_ids=["b1"],
        metadata={},
    )
    again = {
        "b": [
            _staged(tmp_path / "2.arrow", [2, 3], "2024-03-05", "y"),
            _staged(tmp_path / "3.arrow", [9], "2024-03-06", "y"),
        ]
    }

    result = commit_partitions(
        uri, ORDERS, again, work_dir=tmp_path / "w2", batch_ids=["b2"], metadata={"run_id": "r2"}
    )

    assert (result.rows_written, result.duplicates_in_lake) == (2, 1)
    assert sorted(DeltaTable(uri).to_pyarrow_table().column("order_id").to_pylist()) == [1, 2, 3, 9]
    assert [h.operation for h in history(uri)] == ["WRITE", "WRITE", "CREATE TABLE"]  # one commit per run


def test_committed_batch_ids_are_remembered_by_the_table(tmp_path):
    uri = str(tmp_path / "lake" / "orders")
    assert committed_batches(uri, ["b1"]) == set()
    commit_partitions(uri, ORDERS, {}, work_dir=tmp_path / "w4", batch_ids=["b1", "b2"], metadata={})
    assert committed_batches(uri, ["b1", "b2", "b3"]) == {"b1", "b2"}


def test_batch_id_depends_on_path_and_content_only():
    assert batch_id("s3://b/x.csv", "ab") == batch_id("s3://b/x.csv", "ab")
    assert batch_id("s3://b/x.csv", "ab") != batch_id("s3://b/y.csv", "ab")
    assert batch_id("s3://b/x.csv", "ab") != batch_id("s3://b/x.csv", "ac")


def test_a_hash_collision_never_drops_a_distinct_key(tmp_path, monkeypatch):
    import numpy as np

    from sluice.lake import table as lake

    monkeypatch.setattr(lake, "_key_hashes", lambda table: np.zeros(table.num_rows, dtype=np.uint64))
    a = _staged(tmp_path / "a.arrow", [1, 2, 3, 2], "2024-03-05", "x")
    uri = str(tmp_path / "lake" / "orders")

    result = commit_partitions(uri, ORDERS, {"b": [a]}, work_dir=tmp_path / "w", batch_ids=["b1"], metadata={})

    assert (result.rows_written, result.duplicates_in_run) == (3, 1)
    assert sorted(DeltaTable(uri).to_pyarrow_table().column("order_id").to_pylist()) == [1, 2, 3]


def test_a_dates_rows_from_many_small_parts_are_one_row_group_in_source_order(tmp_path):
    schema = pa.schema([("order_id", pa.int64())])
    writers = DayWriters(pafs.LocalFileSystem(), str(tmp_path), schema, "t")
    for start in range(0, 5000, 100):
        writers.write("2024-03-05", pa.table({"order_id": pa.array(range(start, start + 100), pa.int64())}))
    writers.write("2024-03-06", pa.table({"order_id": pa.array([7], pa.int64())}))

    files = writers.close()

    assert [(f.day, f.rows) for f in files] == [("2024-03-05", 5000), ("2024-03-06", 1)]
    first = pq.ParquetFile(tmp_path / files[0].path)
    assert first.metadata.num_row_groups == 1
    assert first.read().column("order_id").to_pylist() == list(range(5000))


def test_the_newest_matching_commit_metadata_is_found_however_far_back_it_lies(tmp_path):
    from deltalake import CommitProperties, write_deltalake

    from sluice.lake.table import HISTORY_WINDOW, META_PREFIX, newest_metadata

    uri = str(tmp_path / "t")
    commits = HISTORY_WINDOW**2 + 3  # past the first two windows
    for i in range(commits):
        source = "old" if i < 2 else "new"
        meta = {f"{META_PREFIX}pos": f'{{"source": "{source}", "n": {i}}}'}
        write_deltalake(
            uri, pa.table({"x": [i]}), mode="append", commit_properties=CommitProperties(custom_metadata=meta)
        )
    assert newest_metadata(uri, "pos", lambda m: m["source"] == "old") == {"source": "old", "n": 1}
    assert newest_metadata(uri, "pos", lambda m: m["source"] == "new") == {"source": "new", "n": commits - 1}
    assert newest_metadata(uri, "pos", lambda m: m["source"] == "none") is None
    assert newest_metadata(str(tmp_path / "absent"), "pos", lambda m: True) is None
