"""The bytes a run's Delta commit added, read from the table's log."""

from __future__ import annotations

import json

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

from sluice.lake.commit_size import added_bytes, commit_bytes


def _commit(uri: str, run_id: str, rows: int) -> None:
    props = CommitProperties(custom_metadata={"sluice.run_id": run_id})
    write_deltalake(uri, pa.table({"a": list(range(rows))}), mode="append", commit_properties=props)


def test_the_commit_of_a_run_counts_the_sizes_of_its_added_files(tmp_path):
    uri = str(tmp_path / "t")
    _commit(uri, "r1", 10)
    _commit(uri, "r2", 1000)

    table = DeltaTable(uri)
    sizes = pa.table(table.get_add_actions(flatten=True)).column("size_bytes").to_pylist()
    assert commit_bytes(uri, 0, "r1") + commit_bytes(uri, 1, "r2") == sum(sizes)
    assert commit_bytes(uri, 1, "r2") > commit_bytes(uri, 0, "r1") > 0


def test_a_version_another_run_made_or_one_not_there_counts_nothing(tmp_path):
    uri = str(tmp_path / "t")
    _commit(uri, "r1", 10)

    assert commit_bytes(uri, 0, "someone-else") == 0
    assert commit_bytes(uri, 7, "r1") == 0
    assert commit_bytes(uri, None, "r1") == 0


def test_adds_are_summed_and_other_actions_ignored():
    lines = [
        {"commitInfo": {"sluice.run_id": "r"}},
        {"add": {"path": "a", "size": 5}},
        {"remove": {"path": "b", "size": 100}},
        {"add": {"path": "c", "size": 7}},
    ]

    assert added_bytes("\n".join(json.dumps(line) for line in lines), "r") == 12
