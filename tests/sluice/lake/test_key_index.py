"""The keys a table holds on a date, kept across commits: only new files are read, and they equal a fresh read."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.lake.key_index import LakeKeys
from sluice.validate.chunk import PARTITION

LIKE = pa.schema([("id", pa.int64()), (PARTITION, pa.string())])


def _append(uri: str, ids: list[int], day: str = "2026-12-01", mode: str = "append") -> None:
    rows = pa.table({"id": pa.array(ids, pa.int64()), PARTITION: pa.array([day] * len(ids), pa.string())})
    write_deltalake(uri, rows, mode=mode, partition_by=[PARTITION])  # type: ignore[arg-type]


def _keys(index: LakeKeys, uri: str, days: list[str]) -> list[tuple[int, str]]:
    found = index.on(DeltaTable(uri), ["id"], days, LIKE)
    assert found is not None and found.schema == LIKE
    return sorted(zip(found.column("id").to_pylist(), found.column(PARTITION).to_pylist(), strict=True))


def _fresh(uri: str, days: list[str]) -> list[tuple[int, str]]:
    rows = DeltaTable(uri).to_pyarrow_table().to_pylist()
    return sorted((r["id"], r[PARTITION]) for r in rows if r[PARTITION] in days)


def test_each_commit_reads_only_the_files_added_since_and_sees_other_writers_rows(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    _append(uri, [1, 2])
    index = LakeKeys(uri)
    first = _keys(index, uri, ["2026-12-01"])
    _append(uri, [3])  # another writer's commit
    _append(uri, [4], day="2026-12-02")

    assert first == [(1, "2026-12-01"), (2, "2026-12-01")]
    assert _keys(index, uri, ["2026-12-01"]) == _fresh(uri, ["2026-12-01"])
    assert index.files_read == 2  # the first file once, then the new one of that date
    assert _keys(index, uri, ["2026-12-01", "2026-12-02"]) == _fresh(uri, ["2026-12-01", "2026-12-02"])


def test_a_date_whose_files_were_removed_is_read_again(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    _append(uri, [1, 2])
    index = LakeKeys(uri)
    _keys(index, uri, ["2026-12-01"])
    _append(uri, [7], mode="overwrite")  # removes the old file

    assert _keys(index, uri, ["2026-12-01"]) == [(7, "2026-12-01")]


def test_memory_is_bounded_by_dates_kept_and_rows_a_date_may_hold(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    for day in range(1, 5):
        _append(uri, [day * 10, day * 10 + 1], day=f"2026-12-0{day}")
    index = LakeKeys(uri, max_days=2, max_rows=1)
    days = [f"2026-12-0{d}" for d in range(1, 5)]

    twice = [_keys(index, uri, days), _keys(index, uri, days)]

    assert twice[0] == twice[1] == _fresh(uri, days)
    assert index.files_read == 8  # no date kept: each holds more rows than max_rows
    roomy = LakeKeys(uri, max_days=2)
    for _ in range(2):
        _keys(roomy, uri, days)
    assert roomy.files_read == 8  # four dates through two places: each read again
    _keys(roomy, uri, days[-2:])
    assert roomy.files_read == 8  # the last two dates used are kept


def test_an_empty_table_and_a_date_without_files_give_no_keys(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    _append(uri, [1])
    index = LakeKeys(uri)

    assert _keys(index, uri, ["2030-01-01"]) == []
    assert _keys(index, uri, []) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    commits=st.lists(
        st.tuples(st.lists(st.integers(0, 50), min_size=1, max_size=5), st.sampled_from(["01", "02"]), st.booleans()),
        min_size=1,
        max_size=6,
    )
)
def test_at_every_version_the_kept_keys_equal_a_fresh_read(tmp_path_factory, commits) -> None:  # type: ignore[no-untyped-def]
    uri = str(tmp_path_factory.mktemp("t") / "t")
    index: LakeKeys | None = None
    for ids, day, overwrite in commits:
        _append(uri, ids, day=f"2026-12-{day}", mode="overwrite" if overwrite else "append")
        index = index or LakeKeys(uri)
        days = ["2026-12-01", "2026-12-02"]
        assert _keys(index, uri, days) == _fresh(uri, days)
