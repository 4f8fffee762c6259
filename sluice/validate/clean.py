"""Whether a typed table certainly passes every column check of its contract, decided by Arrow kernels.

:func:`sluice.validate.chunk.validate_chunk` runs the pandera schema
(:mod:`sluice.validate.schema`) to find each failing value. Most chunks have
none, and pandera's fixed cost per column then buys nothing: when
:func:`certainly_clean` says yes, pandera would report no failure, and the
chunk skips it. The answer is yes only for checks it can decide exactly:
nulls in a required column, allowed values of a text column, ranges of an
integer or float column without NaN, and text lengths. A pattern, a NaN, an
allowed-value list on another type, or any value that fails sends the chunk
to pandera, which finds and names the failures as always. The types need no
check: :func:`sluice.validate.coerce.coerce_table` built the table with the
contract's Arrow schema.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from sluice.validate.contracts import ColumnSpec, ColumnType, Contract


def _no_nan(column: pa.ChunkedArray) -> bool:
    return not pa.types.is_floating(column.type) or not pc.any(pc.is_nan(column)).as_py()


def _within(column: pa.ChunkedArray, spec: ColumnSpec) -> bool:
    if spec.type not in (ColumnType.INT64, ColumnType.FLOAT64) or not _no_nan(column):
        return False
    low, high = pc.min_max(column).values()
    if not low.is_valid:  # no value at all: nothing to fail
        return True
    return (spec.min is None or low.as_py() >= spec.min) and (spec.max is None or high.as_py() <= spec.max)


def _allowed(column: pa.ChunkedArray, values: list[str]) -> bool:
    if column.type != pa.string():
        return False
    present = pc.drop_null(column)
    return bool(pc.all(pc.is_in(present, value_set=pa.array(values, pa.string()))).as_py() is not False)


def _column_clean(column: pa.ChunkedArray, spec: ColumnSpec) -> bool:
    if spec.pattern:
        return False
    if not spec.nullable and (column.null_count or not _no_nan(column)):
        return False
    if spec.allowed_values is not None and not _allowed(column, spec.allowed_values):
        return False
    if (spec.min is not None or spec.max is not None) and not _within(column, spec):
        return False
    if spec.max_length:
        if column.type != pa.string():
            return False
        longest = pc.max(pc.utf8_length(column)).as_py()
        return longest is None or longest <= spec.max_length
    return True


def certainly_clean(typed: pa.Table, contract: Contract) -> bool:
    """``True`` only when no column check of ``contract`` can fail on ``typed`` (see the module doc)."""
    return all(_column_clean(typed.column(spec.name), spec) for spec in contract.columns)
