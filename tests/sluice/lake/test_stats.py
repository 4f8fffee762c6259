"""Table statistics from the Delta log: they match the data, and a log with broken statistics says so."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import write_deltalake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import LakeError
from sluice.lake.stats import table_stats

ints = st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), min_size=1, max_size=20)
texts = st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=20)


def _expected(values: list[object]) -> tuple[object, object, int]:
    column = pa.array(values)
    low, high = pc.min_max(column).values()
    return low.as_py(), high.as_py(), column.null_count


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(appends=st.lists(st.tuples(ints, texts), min_size=1, max_size=4))
def test_statistics_from_the_log_match_the_rows_of_every_append(tmp_path_factory, appends):
    uri = str(tmp_path_factory.mktemp("stats"))
    for numbers, words in appends:
        size = min(len(numbers), len(words))
        table = pa.table({"n": pa.array(numbers[:size], pa.int64()), "w": pa.array(words[:size], pa.string())})
        write_deltalake(uri, table, mode="append")
    all_n = [v for numbers, words in appends for v in numbers[: min(len(numbers), len(words))]]
    all_w = [v for numbers, words in appends for v in words[: min(len(numbers), len(words))]]

    stats = table_stats(uri)

    assert (stats.rows, stats.files, stats.partitions) == (len(all_n), len(appends), 1)
    by_name = {c.name: c for c in stats.columns}
    low, high, nulls = _expected(all_n)
    assert by_name["n"].min == (None if low is None else str(low))
    assert by_name["n"].max == (None if high is None else str(high))
    assert by_name["n"].nulls == nulls and by_name["n"].complete
    assert by_name["w"].nulls == pa.array(all_w, pa.string()).null_count
    # string bounds in the log may be truncated: they bound every value
    present = [w for w in all_w if w is not None]
    if present and by_name["w"].min is not None:
        assert by_name["w"].min <= min(present)


def test_ingested_and_compacted_files_record_row_counts_and_column_bounds(tmp_path):
    from sluice.lake.maintain import optimize_table
    from tests.sluice.lake.maintained import DAYS, ingest_runs

    spec = ingest_runs(tmp_path, 2)
    stats = table_stats(spec.lake_uri)

    assert (stats.rows, stats.files, stats.partitions, stats.largest_partition_files) == (48, 4, 2, 2)
    assert stats.mean_file_bytes == stats.bytes // 4
    ingested = {c.name: c for c in stats.columns}["order_ts"]
    assert ingested.complete and ingested.nulls == 0
    assert ingested.min is not None and ingested.min.startswith(DAYS[0])
    assert ingested.max is not None and ingested.max.startswith(DAYS[1])

    optimize_table(spec.lake_uri)
    compacted = table_stats(spec.lake_uri)

    assert (compacted.rows, compacted.files, compacted.largest_partition_files) == (48, 2, 1)
    order_ts = {c.name: c for c in compacted.columns}["order_ts"]
    assert order_ts.complete and order_ts.nulls == 0
    assert order_ts.min is not None and order_ts.min.startswith(DAYS[0])
    assert order_ts.max is not None and order_ts.max.startswith(DAYS[1])


@pytest.mark.parametrize("stats_field", [None, "{not json", '{"numRecords": "x", "minValues": {"n": "zz"}}'])
def test_a_file_whose_log_entry_lacks_or_garbles_its_statistics_makes_them_incomplete_not_a_crash(
    tmp_path, stats_field
):
    uri = tmp_path / "t"
    write_deltalake(str(uri), pa.table({"n": [1, 2, None]}))
    log = uri / "_delta_log"
    add = next(json.loads(line)["add"] for line in (log / f"{0:020d}.json").read_text().splitlines() if '"add"' in line)
    shutil.copy(uri / add["path"], uri / "copy.parquet")
    add = {**add, "path": "copy.parquet"}
    add.pop("stats")
    if stats_field is not None:
        add["stats"] = stats_field
    (log / f"{1:020d}.json").write_text(json.dumps({"add": add}) + "\n")

    stats = table_stats(str(uri))

    assert stats.files == 2 and stats.rows is None
    n = {c.name: c for c in stats.columns}["n"]
    assert (n.min, n.max, n.nulls, n.complete) == ("1", "2", None, False)


def test_statistics_of_a_missing_table_are_a_clear_error(tmp_path):
    with pytest.raises(LakeError, match="no Delta table"):
        table_stats(str(tmp_path / "none"))
