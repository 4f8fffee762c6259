"""CSV files streamed as text columns (no type inference), malformed rows recorded by line."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv

from sluice.formats.base import (FileLayout, MalformedRow, NeedsReencode, RawChunk, TextReader, layout_of,
                                 open_source, unreadable)
from sluice.quality import Reason
from sluice.sources import SourceFile

CSV_BLOCK = 8 * 1024 * 1024


def _csv_header(sample: bytes, encoding: str) -> list[str]:
    text = codecs.decode(sample[: 64 * 1024], encoding, errors="replace").lstrip("\ufeff")
    first = next(csv.reader(io.StringIO(text)), [])
    return first


def _assign_lines(start: int, count: int, bad: set[int]) -> tuple[np.ndarray, int]:
    """Line numbers of ``count`` parsed rows from ``start``, skipping ``bad`` lines."""
    span = count + sum(1 for b in bad if b >= start) + 1
    candidates = np.arange(start, start + span, dtype=np.int64)
    if bad:
        candidates = candidates[~np.isin(candidates, np.fromiter(bad, dtype=np.int64))]
    lines = candidates[:count]
    nxt = int(lines[-1]) + 1 if count else start
    return lines, nxt


class CsvReader(TextReader):
    """Streams a CSV file as text columns, recording malformed rows by line."""

    def __init__(self, src: SourceFile, wanted: list[str], *, encoding: str | None, chunk_rows: int,
                 storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(src, wanted, encoding=encoding, chunk_rows=chunk_rows, storage_options=storage_options)
        sample = self.sample
        self.layout = layout_of(_csv_header(sample, self.encoding), wanted, self.encoding) if sample else \
            FileLayout(self.encoding, [], list(wanted), [])
        self.empty = not sample.strip()
        self.blank_lines = 0

    def chunks(self) -> Iterator[RawChunk]:
        if self.empty:
            return
        try:
            yield from self._stream()
        except NeedsReencode:
            raise
        except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError) as exc:
            raise unreadable(self.src, exc) from None

    def _stream(self) -> Iterator[RawChunk]:
        bad: dict[int, MalformedRow] = {}

        def on_invalid(row: Any) -> str:
            text = row.text or ""
            if text.strip():  # blank lines are not records
                bad[row.number] = MalformedRow(
                    row.number, text, Reason.MALFORMED_ROW,
                    f"expected {row.expected_columns} fields, found {row.actual_columns}")
            else:
                bad.setdefault(row.number, MalformedRow(row.number, "", Reason.MALFORMED_ROW, "blank"))
            return "skip"

        read = pv.ReadOptions(block_size=CSV_BLOCK, use_threads=False,
                              encoding="utf8" if self.encoding == "utf-8" else self.encoding)
        parse = pv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False)
        cols = self.layout.columns
        # Only an empty field is null: "NA" is Namibia and "NULL" may be someone's name.
        convert = pv.ConvertOptions(column_types={c: pa.string() for c in cols}, include_columns=cols,
                                    null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False)
        next_line, seen_bad = 2, set()  # line 1 is the header
        pending: list[pa.RecordBatch] = []
        pending_lines: list[np.ndarray] = []
        with open_source(self.src, self.opts) as handle:
            try:
                reader = pv.open_csv(handle, read_options=read, parse_options=parse, convert_options=convert)
            except pa.ArrowInvalid as exc:
                if "Empty CSV file" in str(exc):
                    return
                self._maybe_reencode(exc)
                raise
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid as exc:
                    self._maybe_reencode(exc)
                    raise
                new_bad = set(bad) - seen_bad
                lines, next_line = _assign_lines(next_line, batch.num_rows, new_bad)
                seen_bad |= {b for b in new_bad if b < next_line}
                pending.append(batch)
                pending_lines.append(lines)
                if sum(b.num_rows for b in pending) >= self.chunk_rows:
                    yield self._flush(pending, pending_lines, bad, next_line)
                    pending, pending_lines = [], []
        yield self._flush(pending, pending_lines, bad, None)

    def _flush(self, batches: list[pa.RecordBatch], lines: list[np.ndarray], bad: dict[int, MalformedRow],
               upto: int | None) -> RawChunk:
        keys = [k for k in bad if upto is None or k < upto]
        malformed = [bad.pop(k) for k in sorted(keys)]
        malformed = [m for m in malformed if m.detail != "blank"]
        schema = pa.schema([(c, pa.string()) for c in self.layout.columns])
        table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
        rows = np.concatenate(lines) if lines else np.zeros(0, dtype=np.int64)
        if table.num_columns and table.num_rows:
            # Arrow reads a blank line as a row of nulls; a line with no values is not a record.
            empty = np.logical_and.reduce([c.is_null().to_numpy(zero_copy_only=False) for c in table.columns])
            if empty.any():
                self.blank_lines += int(empty.sum())
                table, rows = table.filter(pa.array(~empty)), rows[~empty]
        return RawChunk(table=table, rows=rows, malformed=malformed)

    def _maybe_reencode(self, exc: Exception) -> None:
        if "invalid UTF8" in str(exc) and not self.declared and self.encoding == "utf-8":
            raise NeedsReencode() from exc
