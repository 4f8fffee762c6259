"""JSON Lines streamed in byte blocks; a block with a bad line is parsed line by line."""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

from sluice.formats.base import FileLayout, MalformedRow, RawChunk, TextReader, open_source, unreadable
from sluice.quality import Reason
from sluice.sources import SourceFile

JSON_BLOCK = 8 * 1024 * 1024


def _stringify(column: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string())
    if pa.types.is_nested(column.type):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()], pa.string())
    return column.cast(pa.string())


class JsonLinesReader(TextReader):
    """Streams JSON Lines in byte blocks; a block with a bad line is parsed line by line."""

    def __init__(self, src: SourceFile, wanted: list[str], *, encoding: str | None, chunk_rows: int,
                 storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(src, wanted, encoding=encoding, chunk_rows=chunk_rows, storage_options=storage_options)
        self.layout = FileLayout(self.encoding, list(wanted), [], [], guessed=self.choice.guessed)
        self._keys: set[str] = set()

    def chunks(self) -> Iterator[RawChunk]:
        try:
            yield from self._stream()
        except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError) as exc:
            raise unreadable(self.src, exc) from None

    def _stream(self) -> Iterator[RawChunk]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        carry, line = b"", 1
        with open_source(self.src, self.opts) as handle:
            handle.read(self.choice.bom)  # the byte-order mark is not text
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
