"""A parent table's distinct keys as a lookup built once and probed chunk after chunk.

``pyarrow.compute.is_in`` and Arrow's hash join build their hash table of the
parent keys again on every call: checking 20 chunks against 1,000,000 keys
hashes those keys 20 times. A :class:`KeySet` builds its table once (the
lake caches one per parent table version, :func:`sluice.lake.held.parent_keys`)
and each chunk only probes it.

Every key is packed into fixed-width 64-bit words, vectorised over whole
Arrow columns: an integer column is one word; a string or binary column is as
many words as its longest parent value needs, the value's bytes followed by
its length (so no two values share words). A key of one word is its own
hash, looked up exactly in a ``pandas.Index`` (whose hash engine is built
once). A longer key (a long string, a compound key) is hashed by a
multiply-xor over its words, and every hit is checked word by word against the
parent's key, so the answer stays exact. Other column types (floats, dates,
decimals), a child column of another family than the parent's, parent strings
over :data:`MAX_BYTES` bytes or two parent keys with one hash leave the check
to Arrow (:meth:`KeySet.missing` returns ``None``).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

WORD = 8
MAX_WORDS = 8
MAX_BYTES = MAX_WORDS * WORD - 1  # the last word's top byte holds the length
_MIX = np.uint64(0x9E3779B97F4A7C15)
# _LOW[k]: a word's k low bytes (little-endian).
_LOW = np.array([(1 << (8 * k)) - 1 for k in range(WORD)] + [(1 << 64) - 1], dtype=np.uint64)
_SMALL_UNSIGNED = (pa.uint8(), pa.uint16(), pa.uint32())


class Family(StrEnum):
    """How a column's values are packed into words."""

    INT = "int"
    TEXT = "text"
    BYTES = "bytes"


def family(kind: pa.DataType) -> Family | None:
    """The packing family of an Arrow type; None: not packed (Arrow checks it)."""
    if pa.types.is_signed_integer(kind) or kind in _SMALL_UNSIGNED:
        return Family.INT
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return Family.TEXT
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return Family.BYTES
    return None


def _flat(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _int_words(column: pa.Array) -> np.ndarray:
    values = pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(values).view(np.uint64)[:, None]


def _byte_widths(column: pa.Array, fam: Family) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The column as large binary: its offsets' starts and lengths, and its bytes with a word of padding."""
    large = column.cast(pa.large_string()) if fam is Family.TEXT else column.cast(pa.large_binary())
    bufs = large.buffers()
    offsets = np.frombuffer(bufs[1], dtype="<i8", count=len(large) + 1, offset=large.offset * 8)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    end = int(offsets[-1]) if len(offsets) else 0
    padded = np.zeros(end + MAX_WORDS * WORD + WORD, dtype=np.uint8)
    padded[:end] = data[:end]
    return offsets[:-1], np.diff(offsets), padded


def _text_words(column: pa.Array, fam: Family, words: int) -> tuple[np.ndarray, np.ndarray]:
    """Each value's bytes and length in ``words`` words, and whether it fits in them."""
    starts, lengths, padded = _byte_widths(column, fam)
    fits = lengths <= words * WORD - 1
    # Every byte offset read as a little-endian word (unaligned, overlapping, no copy).
    unaligned = np.ndarray(shape=(len(padded) - WORD + 1,), dtype="<u8", buffer=padded, strides=(1,))
    out = np.empty((len(column), words), dtype=np.uint64)
    kept = np.where(fits, lengths, 0)
    for j in range(words):
        left = np.clip(kept - j * WORD, 0, WORD)
        out[:, j] = unaligned[starts + j * WORD] & _LOW[left]
    out[:, -1] |= kept.astype(np.uint64) << np.uint64(56)
    return out, fits


def _hash(words: np.ndarray) -> np.ndarray:
    """One word per row: the word itself, or a multiply-xor hash of several."""
    if words.shape[1] == 1:
        return np.ascontiguousarray(words[:, 0])
    h = np.zeros(len(words), dtype=np.uint64)
    for j in range(words.shape[1]):
        h = (h ^ words[:, j]) * _MIX
        h ^= h >> np.uint64(29)
    return h


class KeySet:
    """The distinct keys of a parent table (``table``, one column per key column), ready to probe."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        found = [family(table.schema.field(i).type) for i in range(table.num_columns)]
        self._families = [f for f in found if f is not None]
        self._widths: list[int] = []
        self._words: np.ndarray | None = None
        self._index: pd.Index | None = None
        if len(self._families) < len(found) or table.num_rows == 0:
            return
        parts = []
        for i, fam in enumerate(self._families):
            column = _flat(table.column(i))
            if fam is Family.INT:
                self._widths.append(1)
                parts.append(_int_words(column))
                continue
            longest = int(pc.max(pc.binary_length(column)).as_py() or 0)
            if longest > MAX_BYTES:
                return
            self._widths.append(longest // WORD + 1)
            parts.append(_text_words(column, fam, self._widths[-1])[0])
        words = np.hstack(parts)
        index = pd.Index(_hash(words), dtype=np.uint64)
        if not index.is_unique:
            return  # two parent keys share a hash: Arrow checks
        index.get_indexer(index[:1])  # builds the hash engine now, not in the first probe
        self._index = index
        self._words = words if words.shape[1] > 1 else None

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def missing(self, child: pa.Table, columns: list[str]) -> np.ndarray | None:
        """Per row of ``child``: whether its key over ``columns`` is absent (nulls not masked).

        ``None``: this lookup cannot check these columns; use Arrow on :attr:`table`.
        """
        index = self._index
        same = [family(child.schema.field(c).type) for c in columns] == self._families
        if index is None or not same:
            return None
        parts, fits = [], np.ones(child.num_rows, dtype=bool)
        for name, fam, width in zip(columns, self._families, self._widths, strict=True):
            column = _flat(child.column(name))
            if fam is Family.INT:
                parts.append(_int_words(column))
                continue
            words, ok = _text_words(column, fam, width)
            parts.append(words)
            fits &= ok
        words = np.hstack(parts) if len(parts) > 1 else parts[0]
        pos = index.get_indexer(pd.Index(_hash(words), dtype=np.uint64))
        found = (pos >= 0) & fits
        if self._words is not None and found.any():
            hits = np.flatnonzero(found)
            found[hits] = (self._words[pos[hits]] == words[hits]).all(axis=1)
        result: np.ndarray = ~found
        return result
