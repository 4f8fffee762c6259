"""Readers: chunked, text-typed, and every row keeps its source line number."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from sluice.errors import UnreadableFileError
from sluice.formats import open_reader
from sluice.sources.files import detect_format, list_source_files


def _reader(path: Path, wanted: list[str], chunk_rows: int = 1000, encoding: str | None = None):
    src = list_source_files(str(path.parent), path.name)[0]
    return open_reader(src, wanted, encoding=encoding, chunk_rows=chunk_rows)


def test_malformed_rows_are_reported_by_line_and_good_rows_keep_their_lines(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n3\n4,5\n\n6,7,8\n9,10\n")
    chunks = list(_reader(path, ["a", "b"]).chunks())
    rows = [r for c in chunks for r in c.rows.tolist()]
    bad = [(m.line, m.text) for c in chunks for m in c.malformed]
    assert rows == [2, 4, 7]
    assert bad == [(3, "3"), (6, "6,7,8")]
    assert chunks[0].table.column("a").to_pylist() == ["1", "4", "9"]


def test_large_files_come_in_bounded_chunks_with_continuous_line_numbers(tmp_path):
    path = tmp_path / "big.csv.gz"
    body = "".join(f"{i},{i * 2}\n" for i in range(50_000))
    path.write_bytes(gzip.compress(("a,b\n" + body).encode()))
    chunks = list(_reader(path, ["a", "b"], chunk_rows=10_000).chunks())
    assert all(c.table.num_rows <= 10_000 + 200_000 for c in chunks)
    lines = [r for c in chunks for r in c.rows.tolist()]
    assert lines == list(range(2, 50_002))


def test_columns_are_never_type_inferred(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n007,1e3\n")
    chunk = next(_reader(path, ["a", "b"]).chunks())
    assert chunk.table.column("a").to_pylist() == ["007"]


def test_truncated_gzip_raises_unreadable_with_a_redelivery_hint(tmp_path):
    path = tmp_path / "t.csv.gz"
    data = gzip.compress(("a,b\n" + "1,2\n" * 100_000).encode())
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableFileError, match="truncated or corrupt") as info:
        list(_reader(path, ["a", "b"]).chunks())
    assert "re-deliver" in str(info.value)


def test_missing_and_extra_columns_are_reported(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,c\n1,2\n")
    reader = _reader(path, ["a", "b"])
    assert (reader.layout.missing, reader.layout.extra) == (["b"], ["c"])


def test_format_comes_from_the_name():
    assert detect_format("s3://b/k/x.csv.gz")[1] is True
    assert detect_format("/x/y.ndjson")[0].value == "jsonl"


def test_only_empty_fields_are_null_in_csv(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\nNA,NULL\n,n/a\n")
    chunk = next(_reader(path, ["a", "b"]).chunks())
    assert chunk.table.to_pydict() == {"a": ["NA", None], "b": ["NULL", "n/a"]}


def test_small_inputs_are_split_across_workers():
    from sluice.sources.files import FileFormat, SourceFile, group_files

    files = [SourceFile(f"/f{i}.csv", 10, FileFormat.CSV, False) for i in range(4)]
    assert [len(g) for g in group_files(files, 1_000_000, workers=2)] == [2, 2]
    assert len(group_files(files, 15, workers=1)) == 4
