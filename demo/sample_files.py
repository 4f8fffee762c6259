"""Writing generated sample chunks as CSV, JSON Lines (any codec, optionally gzip) or Parquet.

Lines are built with Arrow compute over whole columns and written from the
array's own buffer, so no Python loop runs per row.
"""

from __future__ import annotations

import codecs
import gzip as gzip_module
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

_JSON_NUMBER = r"^-?(0|[1-9]\d*)(\.\d+)?$"


def join(*parts: object) -> pa.Array:
    """Element-wise concatenation of arrays and scalars."""
    return pc.binary_join_element_wise(*parts, "")


def csv_lines(fields: list[pa.Array], variant: np.ndarray) -> pa.Array:
    """RFC 4180 lines; variant 1 drops the last field, variant 2 adds a stray trailing field."""
    quoted = []
    for field in fields:
        col = pc.fill_null(field, "")
        special = pc.match_substring_regex(col, '[",\r\n]')
        if pc.any(special).as_py():
            col = pc.if_else(special, join('"', pc.replace_substring(col, '"', '""'), '"'), col)
        quoted.append(col)
    line = pc.binary_join_element_wise(*quoted, ",")
    if variant.any():
        short = pc.binary_join_element_wise(*quoted[:-1], ",")
        line = pc.choose(pa.array(variant.astype(np.int8)), line, short, join(line, ","))
    return join(line, "\n")


def json_lines(cols: dict[str, pa.Array], numeric: frozenset[str], malformed: np.ndarray) -> pa.Array:
    """One JSON object per line; numeric-looking values of numeric columns as numbers; malformed cut short."""
    parts = []
    for name, col in cols.items():
        text = pc.replace_substring(pc.replace_substring(col, "\\", "\\\\"), '"', '\\"')
        value = join('"', text, '"')
        if name in numeric:
            value = pc.if_else(pc.match_substring_regex(col, _JSON_NUMBER), col, value)
        parts.append(join(f'"{name}":', pc.fill_null(value, "null")))
    line = join("{", pc.binary_join_element_wise(*parts, ","), "}")
    if malformed.any():
        line = pc.if_else(pa.array(malformed), pc.utf8_slice_codeunits(line, 0, 40), line)
    return join(line, "\n")


def buffer(lines: pa.Array) -> memoryview:
    """The concatenated text of a string array, without copying."""
    if len(lines) == 0:
        return memoryview(b"")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


class SampleWriter:
    """Appends chunks to one file: CSV or JSON Lines (any codec, optionally gzip) or Parquet."""

    def __init__(
        self,
        path: Path,
        fmt: str,
        gz: bool,
        encoding: str,
        columns: list[str],
        json_numeric: frozenset[str],
        stack: ExitStack,
    ) -> None:
        self.fmt, self.json_numeric = fmt, json_numeric
        if fmt == "parquet":
            schema = pa.schema([(c, pa.string()) for c in columns])
            self.parquet = stack.enter_context(pq.ParquetWriter(path, schema))
            return
        raw = stack.enter_context(path.open("wb"))
        self.handle = (
            stack.enter_context(gzip_module.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)) if gz else raw
        )
        self.encoder = (
            None if codecs.lookup(encoding).name == "utf-8" else codecs.getincrementalencoder(encoding)(errors="strict")
        )
        if fmt == "csv":
            self._put(memoryview(",".join(columns).encode() + b"\n"))

    def _put(self, data: memoryview) -> None:
        self.handle.write(data if self.encoder is None else self.encoder.encode(str(data, "utf-8")))

    def write(self, cols: dict[str, pa.Array], variant: np.ndarray) -> None:
        if self.fmt == "parquet":
            self.parquet.write_table(pa.table(cols))
        elif self.fmt == "csv":
            self._put(buffer(csv_lines(list(cols.values()), variant)))
        else:
            self._put(buffer(json_lines(cols, self.json_numeric, variant > 0)))
