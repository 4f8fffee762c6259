"""A batch of flat JSON objects read at once by Arrow with the contract's types.

:func:`typed_read` is the fastest of the JSON decoder's three paths: the
batch's values joined as JSON Lines and parsed by ``pyarrow.json.read_json``
with an explicit schema, integers, floats and booleans typed by Arrow, every
other column (strings, timestamps, dates, the key and broker-time columns)
kept as text for :func:`sluice.validate.coerce.coerce_table`. It answers
``None`` whenever the per-message path could see the batch differently:

* a value that does not start with ``{`` and end with ``}``, or a batch with
  more ``{`` than values or any ``[`` (something nested, even in a string);
* ``NaN`` or ``Infinity`` anywhere (Arrow reads them, JSON has no such numbers);
* any error from Arrow (malformed JSON, a string where a number is declared,
  a duplicate key, an integer out of range), or a row count that is not the
  value count;
* an integer of more than 18 digits (the text path refuses them);
* a value over ``max_field_bytes`` (a numeric field that long is refused on text).

A typed chunk holds no original text, so
:func:`sluice.sources.streams.sink.decode_valid` keeps its result only when
validation found nothing to quarantine or warn about; otherwise the batch is
read again as text, and the quarantine keeps every value as it arrived.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from sluice.validate.coerce import ARROW_TYPES
from sluice.validate.contracts import ColumnType, Contract

ARROW_TYPED = (ColumnType.INT64, ColumnType.FLOAT64, ColumnType.BOOL)
LARGEST_INT = 10**18 - 1  # 18 digits: the text path's limit for an integer
_OPEN, _CLOSE = 123, 125


def typed_schema(contract: Contract, as_text: set[str]) -> pa.Schema | None:
    """Arrow's schema for ``contract``'s columns (``as_text`` read as strings); ``None`` for list columns."""
    fields = []
    for spec in contract.columns:
        if spec.type is ColumnType.LIST:
            return None
        typed = spec.type in ARROW_TYPED and spec.name not in as_text
        fields.append((spec.name, ARROW_TYPES[spec.type] if typed else pa.string()))
    return pa.schema(fields)


def _framed(block: bytes, lengths: np.ndarray) -> bool:
    """Each value (``lengths`` bytes, one newline between) is ``{...}`` with no other bracket in it.

    Nor a non-finite number: JSON has none, Arrow would read them.
    """
    if lengths.min() < 2 or block.count(b"{") != len(lengths) or b"[" in block:
        return False
    if b"NaN" in block or b"Infinity" in block:
        return False
    b = np.frombuffer(block, dtype=np.uint8)
    ends = np.cumsum(lengths + 1) - 2  # the last byte of each value
    return bool((b[ends - lengths + 1] == _OPEN).all() and (b[ends] == _CLOSE).all())


def _ints_fit(table: pa.Table, schema: pa.Schema) -> bool:
    for f in schema:
        if f.type == pa.int64():
            low, high = pc.min_max(table.column(f.name)).values()
            if low.is_valid and (low.as_py() < -LARGEST_INT or high.as_py() > LARGEST_INT):
                return False
    return True


def typed_read(block: bytes, lengths: np.ndarray, schema: pa.Schema) -> pa.Table | None:
    """``block`` (values of ``lengths`` bytes joined by newlines, valid UTF-8) as a table of ``schema``.

    ``None``: see the module doc.
    """
    count = len(lengths)
    if not count or len(block) != int(lengths.sum()) + count - 1 or not _framed(block, lengths):
        return None
    try:
        table = pj.read_json(
            pa.BufferReader(block),
            read_options=pj.ReadOptions(
                use_threads=False, block_size=len(block) + 1
            ),  # one block: a pool only adds waits
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != count or not _ints_fit(table, schema):
        return None
    return table.combine_chunks()
