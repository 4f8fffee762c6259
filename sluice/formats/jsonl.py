"""JSON Lines streamed in byte blocks, every value read as its text.

Each block is scanned byte-wise (:mod:`sluice.formats.json_bytes`) before any
parser sees it: a line deeper than ``max_nesting_depth`` or longer than
``max_record_bytes`` is quarantined with an excerpt, unparsed. The rest is
rewritten so that every top-level value is a JSON string (a number its
literal text, ``true``/``false`` their words, a nested value its JSON text,
null stays null, a nested value its JSON text under its key marked as
nested) and read by Arrow's JSON reader with an all-string schema, so no
type is guessed. The contract's columns are then taken from those keys by
:mod:`sluice.formats.nested`: nested paths resolved, arrays read as lists,
values of the wrong shape refused with a reason. A line that is over the record limit is never held
whole: once the pending line passes the limit, its bytes are dropped up to
the next newline, keeping only an excerpt.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

from sluice.formats.base import (
    FileLayout,
    MalformedRow,
    RawChunk,
    TextReader,
    blank_undecodable_lines,
    open_source,
    unreadable,
)
from sluice.formats.encoding import EncodingChoice
from sluice.formats.json_bytes import NESTED_MARK, BlockScan, rewrite, scan
from sluice.formats.nested import ColumnPaths, resolve_json
from sluice.settings import RecordLimits, get_settings
from sluice.sources.files import SourceFile
from sluice.validate.quality import Reason

JSON_BLOCK = 8 * 1024 * 1024
EXCERPT_BYTES = 1024
UNTAKEN = "a JSON object the reader cannot take (duplicate keys or an unusual layout)"


def excerpt(raw: bytes) -> str:
    """The start of a record, as text, for its quarantine entry."""
    return raw[:EXCERPT_BYTES].decode("utf-8", "replace")


@dataclass
class _Oversize:
    """A line past the record limit, being skipped to its newline."""

    line: int
    head: bytes
    size: int

    def entry(self, limit: int) -> MalformedRow:
        return MalformedRow(
            self.line,
            excerpt(self.head),
            Reason.RECORD_TOO_LARGE,
            f"record is at least {self.size:,} bytes; the limit is {limit:,} (SLUICE_MAX_RECORD_BYTES)",
        )


@dataclass
class _Line:
    """One line on its way to the reader: rewritten text (None: cannot be), original bytes, parser-checked."""

    number: int
    text: bytes | None
    raw: bytes
    checked: bool


def _rewrite_one(raw: bytes) -> bytes | None:
    found = scan(raw)
    text, odd = rewrite(raw, found)
    return text if found.shaped.all() and not odd.any() else None


class JsonLinesReader(TextReader):
    """Streams JSON Lines in byte blocks; each value arrives as its text."""

    def __init__(
        self,
        src: SourceFile,
        wanted: list[str],
        *,
        encoding: str | EncodingChoice | None,
        chunk_rows: int,
        storage_options: dict[str, Any] | None = None,
        limits: RecordLimits | None = None,
        paths: ColumnPaths | None = None,
    ) -> None:
        super().__init__(src, wanted, encoding=encoding, chunk_rows=chunk_rows, storage_options=storage_options)
        self.layout = FileLayout(self.encoding, list(wanted), [], [], guessed=self.choice.guessed)
        self.limits = limits or get_settings().record_limits()
        self.paths = paths or ColumnPaths.text_columns(wanted)
        self._keys: set[str] = set()
        # Each top-level key a column reads: its scalar values' text, and its nested values' JSON text.
        self._heads = self.paths.heads
        self._schema = pa.schema([(h + mark, pa.string()) for h in self._heads for mark in ("", NESTED_MARK)])

    def chunks(self) -> Iterator[RawChunk]:
        try:
            yield from self._stream()
        except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError) as exc:
            raise unreadable(self.src, exc) from None

    def _blocks(self) -> Iterator[bytes]:
        """The file as UTF-8 byte blocks (no BOM)."""
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        first = True
        with open_source(self.src, self.opts) as handle:
            handle.read(self.choice.bom)  # the byte-order mark is not text
            while True:
                raw = handle.read(JSON_BLOCK)
                final = not raw
                # UTF-8 is checked line by line in _stream: a line that is not UTF-8 is quarantined alone
                data = raw if self.encoding == "utf-8" else decoder.decode(raw, final=final).encode("utf-8")
                if first and data.startswith(codecs.BOM_UTF8):
                    data = data[len(codecs.BOM_UTF8) :]
                first = False
                yield data
                if final:
                    return

    def _stream(self) -> Iterator[RawChunk]:
        carry, line, skip = b"", 1, None
        limit = self.limits.max_record_bytes
        for data in self._blocks():
            final = not data
            if skip is not None:
                nl = data.find(b"\n")
                skip.size += len(data) if nl < 0 else nl
                if nl < 0 and not final:
                    continue
                yield self._shape(pa.table({}), np.zeros(0, dtype=np.int64), [skip.entry(limit)])
                line, skip, data = line + 1, None, data[nl + 1 :] if nl >= 0 else b""  # noqa: PLW2901
            data = carry + data  # noqa: PLW2901 - rebound, not renamed: the block read is freed at once
            cut = len(data) if final else data.rfind(b"\n") + 1
            block, carry = data[:cut], data[cut:]
            del data
            if block:
                bad: list[MalformedRow] = []
                if self.encoding == "utf-8":
                    block, bad = blank_undecodable_lines(block, line)
                chunk = self._parse_block(block, line)
                chunk.malformed.extend(bad)
                line += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
                if chunk.table.num_rows or chunk.malformed:
                    yield chunk
            if len(carry) > limit:
                skip, carry = _Oversize(line, carry[:EXCERPT_BYTES], len(carry)), b""
        if skip is not None:
            yield self._shape(pa.table({}), np.zeros(0, dtype=np.int64), [skip.entry(limit)])
        self.layout.extra = sorted({k.removesuffix(NESTED_MARK) for k in self._keys} - set(self._heads))

    def _parse_block(self, block: bytes, first_line: int) -> RawChunk:
        found = scan(block)
        n = len(found.starts)
        numbers = np.arange(first_line, first_line + n, dtype=np.int64)
        refused = self._over_limits(block, found, numbers)
        text, odd_values = rewrite(block, found)
        if not refused and not odd_values.any() and found.plain.all():
            table = self._read(text)
            if table is not None and table.num_rows == n:
                return self._shape(table, numbers, [])
        return self._slow_block(block, text, found, numbers, refused, odd_values)

    def _over_limits(self, block: bytes, found: BlockScan, numbers: np.ndarray) -> list[MalformedRow]:
        limits = self.limits
        out = []
        big = np.flatnonzero(found.lengths > limits.max_record_bytes)
        deep = np.flatnonzero((found.depth > limits.max_nesting_depth) & (found.lengths <= limits.max_record_bytes))
        for i in big:
            raw = block[found.starts[i] : found.starts[i] + EXCERPT_BYTES]
            out.append(
                MalformedRow(
                    int(numbers[i]),
                    excerpt(raw),
                    Reason.RECORD_TOO_LARGE,
                    f"record is {int(found.lengths[i]):,} bytes; the limit is "
                    f"{limits.max_record_bytes:,} (SLUICE_MAX_RECORD_BYTES)",
                )
            )
        for i in deep:
            raw = block[found.starts[i] : found.starts[i] + EXCERPT_BYTES]
            out.append(
                MalformedRow(
                    int(numbers[i]),
                    excerpt(raw),
                    Reason.TOO_DEEPLY_NESTED,
                    f"nested {int(found.depth[i])} levels deep; the limit is "
                    f"{limits.max_nesting_depth} (SLUICE_MAX_NESTING_DEPTH)",
                )
            )
        return out

    def _read(self, data: bytes | None) -> pa.Table | None:
        if data is None:
            return None
        try:
            return pj.read_json(
                io.BytesIO(data),
                read_options=pj.ReadOptions(block_size=len(data) + 1),
                parse_options=pj.ParseOptions(explicit_schema=self._schema, unexpected_field_behavior="infer"),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None

    def _slow_block(
        self,
        block: bytes,
        text: bytes,
        found: BlockScan,
        numbers: np.ndarray,
        refused: list[MalformedRow],
        odd_values: np.ndarray,
    ) -> RawChunk:
        """Lines the scan doubts are checked by Python's parser (their depth is safe by now); all read together."""
        malformed = list(refused)
        dropped = np.zeros(len(numbers), dtype=bool)
        dropped[[m.line - int(numbers[0]) for m in refused]] = True
        trusted = found.plain & ~odd_values & ~dropped
        nl = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 10)
        t_starts, t_ends = np.r_[0, nl + 1], np.r_[nl, len(text)]
        own: dict[int, bytes] = {}  # doubted lines that are fine, by index, as they are to be read
        for i in np.flatnonzero(~trusted & ~dropped).tolist():
            raw = block[found.starts[i] : found.ends[i]].strip()
            problem = _json_problem(raw) if raw else "blank"
            if problem:
                if raw:
                    malformed.append(MalformedRow(int(numbers[i]), excerpt(raw), Reason.MALFORMED_JSON, problem))
                continue
            rewritten = text[t_starts[i] : t_ends[i]] if found.shaped[i] and not odd_values[i] else None
            own[i] = rewritten if rewritten is not None else _rewrite_one(raw) or b""
        keep = trusted.copy()
        keep[list(own)] = True
        pieces, prev = [], 0
        for i in np.flatnonzero(~trusted).tolist():  # few: rebuild around them
            pieces.append(text[t_starts[prev] : t_starts[i]] if prev < i else b"")
            if i in own:
                pieces.append(own[i] + b"\n")
            prev = i + 1
        if prev < len(numbers):
            pieces.append(text[t_starts[prev] :])
        joined = b"".join(pieces)
        table = self._read(joined) if keep.any() else pa.table({})
        rows = numbers[keep]
        if table is None or table.num_rows != len(rows):
            lines = [
                _Line(
                    int(numbers[i]),
                    own.get(i, text[t_starts[i] : t_ends[i]]),
                    block[found.starts[i] : found.ends[i]],
                    i in own,
                )
                for i in np.flatnonzero(keep).tolist()
            ]
            table, rows, more = self._read_lines(lines)
            malformed.extend(more)
        malformed.sort(key=lambda m: m.line)
        return self._shape(table, rows, malformed)

    def _read_lines(self, kept: list[_Line]) -> tuple[pa.Table, np.ndarray, list[MalformedRow]]:
        """Lines read together; unchecked ones checked if Arrow refuses the lot; one by one as a last resort."""
        malformed: list[MalformedRow] = []
        kept = self._check(kept, malformed)
        for k in kept:
            if not k.text:  # valid JSON that could not be put in the reader's form: said, never dropped
                malformed.append(MalformedRow(k.number, excerpt(k.raw), Reason.MALFORMED_JSON, UNTAKEN))
        kept = lines = [k for k in kept if k.text]
        table = self._read(b"\n".join(k.text for k in lines if k.text)) if lines else pa.table({})
        if table is not None and table.num_rows == len(lines):
            return table, np.asarray([k.number for k in lines], dtype=np.int64), malformed
        tables, rows = [], []
        for k in kept:
            one = self._read(k.text) if k.text else None
            if one is None or one.num_rows != 1:
                malformed.append(
                    MalformedRow(
                        k.number,
                        excerpt(k.raw),
                        Reason.MALFORMED_JSON,
                        UNTAKEN,
                    )
                )
                continue
            tables.append(self._top(one))
            rows.append(k.number)
        table = pa.concat_tables(tables) if tables else pa.table({})
        return table, np.asarray(rows, dtype=np.int64), malformed

    @staticmethod
    def _check(kept: list[_Line], malformed: list[MalformedRow]) -> list[_Line]:
        out = []
        for k in kept:
            problem = "" if k.checked else _json_problem(k.raw)
            if problem:
                malformed.append(MalformedRow(k.number, excerpt(k.raw), Reason.MALFORMED_JSON, problem))
            else:
                out.append(_Line(k.number, k.text, k.raw, True))
        return out

    def _top(self, table: pa.Table) -> pa.Table:
        """The top-level keys the columns read, as text; the file's other keys are noted for the layout."""
        self._keys.update(table.column_names)
        n = table.num_rows
        return pa.table(
            {
                c: _as_text(table.column(c)) if c in table.column_names else pa.nulls(n, pa.string())
                for c in self._schema.names
            }
        )

    def _shape(self, table: pa.Table, rows: np.ndarray, malformed: list[MalformedRow]) -> RawChunk:
        resolved, failures = resolve_json(self._top(table), self.paths)
        return RawChunk(table=resolved, rows=rows, malformed=malformed, failures=failures)


def _as_text(column: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return column if column.type == pa.string() else column.cast(pa.string())


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON (it has no NaN or Infinity)")


def _json_problem(raw: bytes) -> str:
    """Why ``raw`` is not one JSON object ('' when it is)."""
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        return "nested too deeply for the parser"
    except ValueError as exc:
        return str(exc)[:200]
    if not isinstance(value, dict):
        return f"expected a JSON object, found {type(value).__name__}"
    return ""
