"""Chunked readers that turn one source file into raw Arrow chunks.

Every reader yields :class:`RawChunk` objects of at most ``chunk_rows`` rows,
so memory stays flat however large the file. CSV columns are all read as text
(no type inference); typing happens in :mod:`sluice.coerce` where each failure
is recorded. Rows that cannot be parsed at all (wrong field count, malformed
JSON) come back in ``malformed`` with their line number.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.json as pj
import pyarrow.parquet as pq

from sluice.encoding import SAMPLE_BYTES, detect_encoding, first_bad_utf8, normalise_name
from sluice.errors import UnreadableFileError
from sluice.quality import Reason
from sluice.sources import FileFormat, SourceFile, filesystem

CSV_BLOCK = 8 * 1024 * 1024
JSON_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class MalformedRow:
    line: int
    text: str
    reason: Reason
    detail: str


@dataclass
class RawChunk:
    table: pa.Table  # the contract's columns found in the file (others absent)
    rows: np.ndarray  # int64 source line (or record) number of each row
    malformed: list[MalformedRow] = field(default_factory=list)


@dataclass
class FileLayout:
    encoding: str
    columns: list[str]
    missing: list[str]
    extra: list[str]


class _NeedsReencode(Exception):
    """UTF-8 was assumed from the sample, but the file says otherwise further in."""


def _open(src: SourceFile, storage_options: dict[str, Any] | None) -> io.BufferedIOBase:
    fs, path = filesystem(src.uri, storage_options)
    return fs.open(path, "rb", compression="gzip" if src.gzip else None)


def _sample(src: SourceFile, storage_options: dict[str, Any] | None) -> bytes:
    with _open(src, storage_options) as handle:
        return handle.read(SAMPLE_BYTES)


def _layout(header: list[str], wanted: list[str], encoding: str) -> FileLayout:
    header = [h.lstrip("\ufeff").strip() for h in header]
    return FileLayout(
        encoding=encoding,
        columns=[c for c in wanted if c in header],
        missing=[c for c in wanted if c not in header],
        extra=[h for h in header if h not in wanted],
    )


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


class _TextReader:
    """What the text formats share: the file, the wanted columns and the encoding."""

    def __init__(self, src: SourceFile, wanted: list[str], *, encoding: str | None, chunk_rows: int,
                 storage_options: dict[str, Any] | None = None) -> None:
        self.src, self.wanted, self.chunk_rows, self.opts = src, wanted, chunk_rows, storage_options
        self.sample = _sample(src, storage_options)
        self.encoding = normalise_name(encoding) if encoding else detect_encoding(self.sample, path=src.uri)
        self.declared = encoding is not None


class CsvReader(_TextReader):
    """Streams a CSV file as text columns, recording malformed rows by line."""

    def __init__(self, src: SourceFile, wanted: list[str], *, encoding: str | None, chunk_rows: int,
                 storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(src, wanted, encoding=encoding, chunk_rows=chunk_rows, storage_options=storage_options)
        sample = self.sample
        self.layout = _layout(_csv_header(sample, self.encoding), wanted, self.encoding) if sample else \
            FileLayout(self.encoding, [], list(wanted), [])
        self.empty = not sample.strip()
        self.blank_lines = 0

    def chunks(self) -> Iterator[RawChunk]:
        if self.empty:
            return
        try:
            yield from self._stream()
        except _NeedsReencode:
            raise
        except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError) as exc:
            raise _unreadable(self.src, exc) from None

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
        with _open(self.src, self.opts) as handle:
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
            raise _NeedsReencode() from exc


def _unreadable(src: SourceFile, exc: BaseException) -> UnreadableFileError:
    text = str(exc)
    if src.gzip and ("end-of-stream" in text or "Compressed file ended" in text or isinstance(exc, EOFError)
                     or "CRC" in text or "gzip" in text.lower()):
        return UnreadableFileError(f"{src.uri}: gzip stream is truncated or corrupt ({text})",
                                   hint="re-deliver the file; none of its rows were loaded")
    if "UTF8" in text or isinstance(exc, UnicodeDecodeError):
        return UnreadableFileError(f"{src.uri}: bytes do not decode with the chosen encoding ({text})",
                                   hint="declare the encoding with --encoding")
    return UnreadableFileError(f"{src.uri}: cannot read file ({type(exc).__name__}: {text})",
                               hint="check the file is complete; none of its rows were loaded")


def _stringify(column: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string())
    if pa.types.is_nested(column.type):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()], pa.string())
    return column.cast(pa.string())


class JsonLinesReader(_TextReader):
    """Streams JSON Lines in byte blocks; a block with a bad line is parsed line by line."""

    def __init__(self, src: SourceFile, wanted: list[str], *, encoding: str | None, chunk_rows: int,
                 storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(src, wanted, encoding=encoding, chunk_rows=chunk_rows, storage_options=storage_options)
        self.layout = FileLayout(self.encoding, list(wanted), [], [])
        self._keys: set[str] = set()

    def chunks(self) -> Iterator[RawChunk]:
        try:
            yield from self._stream()
        except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError) as exc:
            raise _unreadable(self.src, exc) from None

    def _stream(self) -> Iterator[RawChunk]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        carry, line = b"", 1
        with _open(self.src, self.opts) as handle:
            while True:
                raw = handle.read(JSON_BLOCK)
                final = not raw
                text = decoder.decode(raw, final=final)
                data = carry + (text.encode("utf-8") if self.encoding != "utf-8" else raw if not final else b"")
                if self.encoding == "utf-8" and data.startswith(codecs.BOM_UTF8):
                    data = data[len(codecs.BOM_UTF8):]
                cut = len(data) if final else data.rfind(b"\n") + 1
                block, carry = data[:cut], data[cut:]
                if block:
                    chunk = self._parse_block(block, line)
                    line += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
                    if chunk.table.num_rows or chunk.malformed:
                        yield chunk
                if final:
                    break
        self.layout.extra = sorted(self._keys - set(self.wanted))

    def _parse_block(self, block: bytes, first_line: int) -> RawChunk:
        lines = block.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        clean = all(lines) and b"\r" not in block[:0]
        if clean:
            try:
                table = pj.read_json(io.BytesIO(block), read_options=pj.ReadOptions(block_size=len(block) + 1))
                if table.num_rows == len(lines):
                    return self._shape(table, np.arange(first_line, first_line + len(lines), dtype=np.int64), [])
            except pa.ArrowInvalid:
                pass
        return self._slow_block(lines, first_line)

    def _slow_block(self, lines: list[bytes], first_line: int) -> RawChunk:
        records, numbers, malformed = [], [], []
        for offset, raw in enumerate(lines):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
                if not isinstance(value, dict):
                    raise ValueError(f"expected a JSON object, found {type(value).__name__}")
            except ValueError as exc:
                malformed.append(MalformedRow(first_line + offset, raw.decode("utf-8", "replace")[:10_000],
                                              Reason.MALFORMED_JSON, str(exc)[:200]))
                continue
            records.append({k: (v if v is None or isinstance(v, str) else json.dumps(v)) for k, v in value.items()})
            numbers.append(first_line + offset)
        table = pa.Table.from_pylist(records) if records else pa.table({})
        return self._shape(table, np.asarray(numbers, dtype=np.int64), malformed)

    def _shape(self, table: pa.Table, rows: np.ndarray, malformed: list[MalformedRow]) -> RawChunk:
        self._keys.update(table.column_names)
        n = len(rows)
        cols = {c: _stringify(table.column(c)) if c in table.column_names else pa.nulls(n, pa.string())
                for c in self.wanted}
        return RawChunk(table=pa.table(cols), rows=rows, malformed=malformed)


class ParquetReader:
    """Streams a Parquet file by row batches; types are kept and cast later."""

    def __init__(self, src: SourceFile, wanted: list[str], *, encoding: str | None, chunk_rows: int,
                 storage_options: dict[str, Any] | None = None) -> None:
        self.src, self.wanted, self.chunk_rows, self.opts = src, wanted, chunk_rows, storage_options
        fs, path = filesystem(src.uri, storage_options)
        self._handle = fs.open(path, "rb")
        try:
            self._file = pq.ParquetFile(self._handle)
        except (pa.ArrowInvalid, OSError) as exc:
            self._handle.close()
            raise _unreadable(src, exc) from None
        self.layout = _layout(self._file.schema_arrow.names, wanted, "binary")

    def chunks(self) -> Iterator[RawChunk]:
        start = 1
        try:
            for batch in self._file.iter_batches(batch_size=self.chunk_rows, columns=self.layout.columns):
                rows = np.arange(start, start + batch.num_rows, dtype=np.int64)
                start += batch.num_rows
                yield RawChunk(table=pa.Table.from_batches([batch]), rows=rows)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _unreadable(self.src, exc) from None
        finally:
            self._handle.close()


Reader = CsvReader | JsonLinesReader | ParquetReader


def open_reader(src: SourceFile, wanted: list[str], *, encoding: str | None, chunk_rows: int,
                storage_options: dict[str, Any] | None = None) -> Reader:
    """The reader for ``src``'s format."""
    cls = {FileFormat.CSV: CsvReader, FileFormat.JSONL: JsonLinesReader, FileFormat.PARQUET: ParquetReader}[src.format]
    try:
        return cls(src, wanted, encoding=encoding, chunk_rows=chunk_rows, storage_options=storage_options)
    except (OSError, EOFError) as exc:
        raise _unreadable(src, exc) from None


def redetect_encoding(src: SourceFile, storage_options: dict[str, Any] | None) -> str:
    """Find the first non-UTF-8 bytes and guess the encoding from around them."""
    with _open(src, storage_options) as handle:
        offset = 0
        while block := handle.read(4 * 1024 * 1024):
            bad = first_bad_utf8(block)
            if bad is not None:
                window = block[max(0, bad - 32 * 1024): bad + 32 * 1024]
                return detect_encoding(window, path=src.uri)
            offset += len(block)
    return "utf-8"
