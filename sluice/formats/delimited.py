"""CSV files streamed as text columns (no type inference), malformed rows recorded by line.

The dialect (delimiter, quote and escape characters, doubled quotes) comes
from the contract's ``csv:`` block. The header is checked before any row is
read: a contract column named twice, or a header that only makes sense with
another delimiter, fails the file with what to change.

UTF-8 files are read as bytes and every value of every batch is checked:
a column that is all ASCII passes on one vectorised test, and only a column
with other bytes is validated as UTF-8. Rows with bytes that are not UTF-8 are
quarantined as ``undecodable_bytes`` (see :mod:`sluice.formats.encoding`).
A row Arrow cannot split into fields reaches Python as UTF-8 text, which
pyarrow cannot make of bytes that are not UTF-8: when that happens the file is
read again through Latin-1 (slower), which carries any bytes through intact.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv

from sluice.errors import UnreadableFileError
from sluice.formats.base import (
    FileLayout,
    MalformedRow,
    NeedsReencode,
    RawChunk,
    TextReader,
    layout_of,
    open_source,
    undecodable_row,
    unreadable,
)
from sluice.formats.encoding import (
    EncodingChoice,
    bad_utf8_positions,
    first_bad_utf8,
    has_non_ascii,
)
from sluice.sources.files import SourceFile
from sluice.validate.contracts import CsvDialect
from sluice.validate.quality import Reason

CSV_BLOCK = 8 * 1024 * 1024
HEADER_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")  # what a mis-delimited header is tested against


def _csv_header(sample: bytes, encoding: str, dialect: CsvDialect) -> tuple[list[str], str]:
    """The header's fields and its first physical line, from the start of the file (BOM skipped)."""
    text = codecs.decode(sample[:HEADER_BYTES], encoding, errors="replace").lstrip("\ufeff")
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_NONE if dialect.quote_char is None else csv.QUOTE_MINIMAL
    try:
        first = next(
            csv.reader(
                io.StringIO(text, newline=""),
                delimiter=dialect.delimiter,
                quotechar=dialect.quote_char or '"',
                escapechar=dialect.escape_char,
                doublequote=dialect.double_quote,
                quoting=quoting,
            ),
            [],
        )
    except csv.Error as exc:
        raise UnreadableFileError(
            f"cannot parse the CSV header ({exc})", hint="check the header line and the contract's csv: settings"
        ) from None
    if any("\ufffd" in name for name in first):
        raise UnreadableFileError(
            f"the header has bytes that are not {encoding}",
            hint="declare the file's encoding with --encoding or the contract's encoding:",
        )
    return first, text.split("\n", 1)[0]


def ensure_header_is_usable(header: list[str], line: str, wanted: list[str], dialect: CsvDialect) -> None:
    """Refuse a header that names a contract column twice or looks split on the wrong delimiter.

    Raises:
        UnreadableFileError: with the duplicate's positions, or the delimiter the header suggests.
    """
    names = [h.lstrip("\ufeff").strip() for h in header]
    first_at: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        if name in first_at and name in wanted:
            raise UnreadableFileError(
                f"column {name!r} appears twice in the header (fields {first_at[name]} and {position})",
                hint="rename or drop one of them at the source; none of the file's rows were loaded",
            )
        first_at.setdefault(name, position)
    if not names or any(n in wanted for n in names):
        return
    counts = {d: line.count(d) for d in DELIMITERS if d != dialect.delimiter}
    likely = max(counts, key=counts.__getitem__)
    fits = any(n.strip() in wanted for n in line.split(likely))
    if counts[likely] and (fits or len(names) == 1):
        raise UnreadableFileError(
            f"the header has {_count(len(names), 'field')} and contains {likely!r} {_count(counts[likely], 'time')}: "
            f"the file looks {likely!r}-delimited",
            hint=f"set `csv: {{delimiter: {likely!r}}}` in the contract, or re-deliver the file "
            f"{dialect.delimiter!r}-delimited",
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 else f"{n // 2**10} KiB"


def _assign_lines(start: int, count: int, bad: set[int]) -> tuple[np.ndarray, int]:
    """Line numbers of ``count`` parsed rows from ``start``, skipping ``bad`` lines."""
    span = count + sum(1 for b in bad if b >= start) + 1
    candidates = np.arange(start, start + span, dtype=np.int64)
    if bad:
        candidates = candidates[~np.isin(candidates, np.fromiter(bad, dtype=np.int64))]
    lines = candidates[:count]
    nxt = int(lines[-1]) + 1 if count else start
    return lines, nxt


def _latin1_to_bytes(column: pa.Array) -> pa.Array:
    """The original bytes of a column read through Latin-1 (ASCII columns without a copy)."""
    if not has_non_ascii(column):
        return column.view(pa.binary())
    return pa.array([None if v is None else v.encode("latin-1") for v in column.to_pylist()], pa.binary())


def _raw_record(values: list[bytes | None], dialect: CsvDialect) -> bytes:
    """A row's fields as CSV bytes in the file's dialect (each field's bytes unchanged)."""
    delim, quote = dialect.delimiter.encode(), (dialect.quote_char or "").encode()
    if not quote:
        return delim.join(v or b"" for v in values)
    special = re.compile(b"[" + re.escape(delim + quote) + b"\r\n]")
    return delim.join(
        quote + v.replace(quote, quote + quote) + quote if v and special.search(v) else v or b"" for v in values
    )


class CsvReader(TextReader):
    """Streams a CSV file as text columns, recording malformed rows by line."""

    def __init__(
        self,
        src: SourceFile,
        wanted: list[str],
        *,
        encoding: str | EncodingChoice | None,
        chunk_rows: int,
        storage_options: dict[str, Any] | None = None,
        dialect: CsvDialect | None = None,
    ) -> None:
        super().__init__(src, wanted, encoding=encoding, chunk_rows=chunk_rows, storage_options=storage_options)
        self.dialect = dialect or CsvDialect()
        body = self.sample[self.choice.bom :]
        self.empty = not body.strip()
        self.layout = FileLayout(self.encoding, [], list(wanted), [], guessed=self.choice.guessed)
        self.probe: str | None = None  # a header field read only to count rows when no contract column is there
        if not self.empty:
            try:
                header, line = _csv_header(body, self.encoding, self.dialect)
                ensure_header_is_usable(header, line, wanted, self.dialect)
            except UnreadableFileError as exc:
                raise UnreadableFileError(f"{src.uri}: {exc.args[0]}", hint=exc.hint) from None
            header = header or [""]  # a blank first line is a header of one unnamed column
            self.layout = layout_of(header, wanted, self.encoding, guessed=self.choice.guessed)
            self.probe = None if self.layout.columns else header[0]
        self.blank_lines = 0
        self.evidence = self.choice.decided or self.choice.guessed or not body.isascii()

    @property
    def _names(self) -> list[str]:
        """The columns of the chunks before they are yielded: the contract's found, else the probe."""
        return list(self.layout.columns) or [self.probe or ""]

    def chunks(self) -> Iterator[RawChunk]:
        if self.empty:
            return
        try:
            yield from self._stream()
        except NeedsReencode:
            raise
        except (pa.ArrowException, OSError, EOFError, UnicodeError) as exc:
            if self._unsplittable_bytes(exc):
                # pyarrow hands a row it cannot split to Python as UTF-8 text, and fails on one that is
                # not: read the file again through Latin-1, which turns any bytes into text and back.
                raise NeedsReencode(replace(self.choice, via_latin1=True)) from None
            raise self._explain(exc) from None

    def _unsplittable_bytes(self, exc: BaseException) -> bool:
        return (
            self.encoding == "utf-8"
            and not self.choice.via_latin1
            and isinstance(exc, pa.ArrowInvalid)
            and "CSV parse error" in str(exc)
        )

    def _explain(self, exc: BaseException) -> UnreadableFileError:
        """The error to report for a file Arrow cannot split into records."""
        text, quote = str(exc), self.dialect.quote_char
        if "straddling object straddles two block boundaries" in text:
            unclosed = f", or a quote character ({quote!r}) opens a field that is never closed" if quote else ""
            return UnreadableFileError(
                f"{self.src.uri}: a record runs past {_size(CSV_BLOCK)}: a field is that large{unclosed}",
                hint="check the quoting at the source or the contract's csv: settings; none of the file's rows "
                "were loaded",
            )
        if "got out of sync with chunker" in text:
            return UnreadableFileError(
                f"{self.src.uri}: a quoted field holds a line break, or a quote character ({quote!r}) is never closed",
                hint="if fields may hold line breaks, set `csv: {newlines_in_values: true}` in the "
                "contract; otherwise fix the quoting at the source",
            )
        return unreadable(self.src, exc)

    def _options(self, on_invalid: Any) -> tuple[pv.ReadOptions, pv.ParseOptions, pv.ConvertOptions]:
        utf8 = self.encoding == "utf-8"
        arrow_encoding = "latin-1" if self.choice.via_latin1 else "utf8" if utf8 else self.encoding
        read = pv.ReadOptions(block_size=CSV_BLOCK, use_threads=False, encoding=arrow_encoding)
        d = self.dialect
        parse = pv.ParseOptions(
            delimiter=d.delimiter,
            quote_char=d.quote_char or False,
            double_quote=d.double_quote,
            escape_char=d.escape_char or False,
            newlines_in_values=d.newlines_in_values,
            invalid_row_handler=on_invalid,
            ignore_empty_lines=False,
        )
        names = [self.layout.header_names[c] for c in self.layout.columns] or [self.probe or ""]
        # UTF-8 is read as bytes and checked here, row by row; other encodings arrive transcoded.
        kind = pa.binary() if utf8 and not self.choice.via_latin1 else pa.string()
        # Only an empty field is null: "NA" is Namibia and "NULL" may be someone's name.
        convert = pv.ConvertOptions(
            column_types={c: kind for c in names},
            include_columns=names,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        return read, parse, convert

    def _stream(self) -> Iterator[RawChunk]:
        bad: dict[int, MalformedRow] = {}

        def on_invalid(row: Any) -> str:
            text = row.text or ""
            detail = f"expected {row.expected_columns} fields, found {row.actual_columns}"
            if self.choice.via_latin1 and not text.isascii():
                raw = text.encode("latin-1")
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    bad[row.number] = undecodable_row(row.number, raw, f"{detail}, and bytes that are not UTF-8")
                    return "skip"
            if text.strip():  # blank lines are not records
                bad[row.number] = MalformedRow(row.number, text, Reason.MALFORMED_ROW, detail)
            else:
                bad.setdefault(row.number, MalformedRow(row.number, "", Reason.MALFORMED_ROW, "blank"))
            return "skip"

        next_line, seen_bad = 2, set[int]()  # line 1 is the header
        pending: list[pa.RecordBatch] = []
        pending_lines: list[np.ndarray] = []
        undecodable: list[MalformedRow] = []
        with open_source(self.src, self.opts) as handle:
            handle.read(self.choice.bom)  # the byte-order mark is not text
            try:
                reader = pv.open_csv(handle, *self._options(on_invalid))
            except pa.ArrowInvalid as exc:
                if "Empty CSV file" in str(exc):
                    return
                raise
            for batch in reader:
                new_bad = set(bad) - seen_bad
                lines, next_line = _assign_lines(next_line, batch.num_rows, new_bad)
                seen_bad |= {b for b in new_bad if b < next_line}
                batch, lines = self._as_text(batch, lines, undecodable)  # noqa: PLW2901 - frees the raw batch
                pending.append(batch)
                pending_lines.append(lines)
                if sum(b.num_rows for b in pending) >= self.chunk_rows:
                    yield self._flush(pending, pending_lines, bad, undecodable, next_line)
                    pending, pending_lines, undecodable = [], [], []
        yield self._flush(pending, pending_lines, bad, undecodable, None)

    def _as_text(
        self, batch: pa.RecordBatch, lines: np.ndarray, undecodable: list[MalformedRow]
    ) -> tuple[pa.RecordBatch, np.ndarray]:
        """The batch as string columns named as the contract names them; undecodable rows set aside."""
        if self.choice.via_latin1:
            batch = pa.RecordBatch.from_arrays([_latin1_to_bytes(c) for c in batch.columns], names=batch.schema.names)
        if self.encoding == "utf-8":
            keep = self._check_utf8(batch, lines, undecodable)
            if keep is not None:
                batch, lines = batch.filter(pa.array(keep)), lines[keep]
        columns = [c.view(pa.string()) if c.type == pa.binary() else c for c in batch.columns]
        return pa.RecordBatch.from_arrays(columns, names=self._names), lines

    def _check_utf8(
        self, batch: pa.RecordBatch, lines: np.ndarray, undecodable: list[MalformedRow]
    ) -> np.ndarray | None:
        """Mask of the rows to keep, or None when every value is UTF-8; the others go to ``undecodable``."""
        wide = [i for i, c in enumerate(batch.columns) if has_non_ascii(c)]
        broken = {i: p for i in wide if len(p := bad_utf8_positions(batch.column(i)))}
        if not broken:
            self.evidence = self.evidence or bool(wide)
            return None
        keep = np.ones(batch.num_rows, dtype=bool)
        keep[np.concatenate(list(broken.values()))] = False
        if not self.evidence:
            kept = batch.filter(pa.array(keep))
            self.evidence = any(has_non_ascii(kept.column(i)) for i in wide)
            if not self.evidence:
                raise NeedsReencode()
        names = self._names
        positions = np.flatnonzero(~keep)
        rows = zip(*(c.to_pylist() for c in batch.take(pa.array(positions)).columns), strict=True)
        for position, values in zip(positions, rows, strict=True):
            column = next(i for i, v in enumerate(values) if v is not None and first_bad_utf8(v) is not None)
            at = first_bad_utf8(values[column]) or 0
            detail = (
                f"column {names[column]!r} has bytes that are not UTF-8 at byte {at} "
                f"({values[column][at : at + 4]!r}); the record's raw bytes are in base64"
            )
            undecodable.append(undecodable_row(int(lines[position]), _raw_record(list(values), self.dialect), detail))
        return keep

    def _flush(
        self,
        batches: list[pa.RecordBatch],
        lines: list[np.ndarray],
        bad: dict[int, MalformedRow],
        undecodable: list[MalformedRow],
        upto: int | None,
    ) -> RawChunk:
        keys = [k for k in bad if upto is None or k < upto]
        malformed = [bad.pop(k) for k in sorted(keys)]
        malformed = sorted([m for m in malformed if m.detail != "blank"] + undecodable, key=lambda m: m.line)
        schema = pa.schema([(c, pa.string()) for c in self._names])
        table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
        rows = np.concatenate(lines) if lines else np.zeros(0, dtype=np.int64)
        if table.num_columns and table.num_rows:
            # Arrow reads a blank line as a row of nulls; a line with no values is not a record.
            empty = np.logical_and.reduce([c.is_null().to_numpy(zero_copy_only=False) for c in table.columns])
            if empty.any():
                self.blank_lines += int(empty.sum())
                table, rows = table.filter(pa.array(~empty)), rows[~empty]
        if not self.layout.columns:
            table = table.select([])
        return RawChunk(table=table, rows=rows, malformed=malformed)
