"""Readers that turn one source file into raw Arrow chunks, one module per format.

CSV and JSON Lines columns are read as text; typing happens in
:mod:`sluice.coerce`, where each failure is recorded. Parquet keeps the
file's own types, cast later by the same module.
"""

from __future__ import annotations

from typing import Any

from sluice.formats.base import FileLayout, MalformedRow, NeedsReencode, RawChunk, open_source, unreadable
from sluice.formats.delimited import CsvReader
from sluice.formats.encoding import detect_encoding, first_bad_utf8
from sluice.formats.jsonl import JsonLinesReader
from sluice.formats.parquet import ParquetReader
from sluice.sources import FileFormat, SourceFile

__all__ = ["CsvReader", "FileLayout", "JsonLinesReader", "MalformedRow", "NeedsReencode", "ParquetReader", "RawChunk",
           "Reader", "open_reader", "redetect_encoding"]

Reader = CsvReader | JsonLinesReader | ParquetReader


def open_reader(src: SourceFile, wanted: list[str], *, encoding: str | None, chunk_rows: int,
                storage_options: dict[str, Any] | None = None) -> Reader:
    """The reader for ``src``'s format."""
    cls = {FileFormat.CSV: CsvReader, FileFormat.JSONL: JsonLinesReader, FileFormat.PARQUET: ParquetReader}[src.format]
    try:
        return cls(src, wanted, encoding=encoding, chunk_rows=chunk_rows, storage_options=storage_options)
    except (OSError, EOFError) as exc:
        raise unreadable(src, exc) from None


def redetect_encoding(src: SourceFile, storage_options: dict[str, Any] | None) -> str:
    """Find the first non-UTF-8 bytes and guess the encoding from around them."""
    with open_source(src, storage_options) as handle:
        offset = 0
        while block := handle.read(4 * 1024 * 1024):
            bad = first_bad_utf8(block)
            if bad is not None:
                window = block[max(0, bad - 32 * 1024): bad + 32 * 1024]
                return detect_encoding(window, path=src.uri)
            offset += len(block)
    return "utf-8"
