"""Explicit, vectorised typing of raw columns to the contract's types.

A value that cannot be read as its declared type becomes null and is recorded
in the :class:`~sluice.quality.FailureLog` with a reason code. Nothing is
inferred: a column is read as exactly the type its contract declares.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.contracts import ColumnSpec, ColumnType, Contract
from sluice.quality import FailureLog, Reason
from sluice.timestamps import parse_timestamps

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.STRING: pa.string(),
    ColumnType.INT64: pa.int64(),
    ColumnType.FLOAT64: pa.float64(),
    ColumnType.BOOL: pa.bool_(),
    ColumnType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    ColumnType.DATE: pa.date32(),
}
_FLOAT = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$"
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]


def arrow_schema(contract: Contract) -> pa.Schema:
    return pa.schema([(c.name, ARROW_TYPES[c.type]) for c in contract.columns])


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _text(column: pa.Array) -> pa.Array:
    """Text with empty strings as null.

    Byte lengths, not character counts: only the offsets are read. CSV
    readers already give empty fields as null, so the column is copied only
    when it does hold an empty string.
    """
    text = column.cast(pa.string())
    empty = pc.equal(pc.binary_length(text), 0)
    if not pc.any(empty).as_py():
        return text
    return pc.if_else(empty, pa.scalar(None, pa.string()), text)


def _without_plus(text: pa.Array) -> pa.Array:
    """``+5`` as ``5``: Arrow's integer cast refuses a leading plus sign."""
    plus = pc.starts_with(text, "+")
    if not pc.any(plus).as_py():
        return text
    return pc.if_else(plus, pc.utf8_slice_codeunits(text, 1), text)


def _by_regex(text: pa.Array, regex: str, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    ok = _np(pc.match_substring_regex(text, regex))
    present = _np(pc.is_valid(text))
    bad = present & ~ok
    if bad.any():
        text = pc.if_else(pa.array(ok), text, pa.scalar(None, pa.string()))
    return pc.cast(_without_plus(pc.utf8_trim_whitespace(text)), target), bad


def _coerce_int(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Digits with an optional sign; checked without a regex (it is the hottest path)."""
    trimmed = pc.utf8_trim_whitespace(text)
    unsigned = pc.utf8_ltrim(trimmed, characters="+-")
    # Byte lengths: the signs are ASCII, and a non-ASCII digit (more than one
    # byte) fails the cast below and is settled by the strict regex anyway.
    one_sign = pc.less_equal(pc.subtract(pc.binary_length(trimmed), pc.binary_length(unsigned)), 1)
    ok = _np(pc.and_(pc.and_(pc.utf8_is_digit(unsigned), one_sign), pc.less_equal(pc.binary_length(unsigned), 18)))
    bad = _np(pc.is_valid(text)) & ~ok
    if bad.any():
        trimmed = pc.if_else(pa.array(ok), trimmed, pa.scalar(None, pa.string()))
    try:
        return pc.cast(_without_plus(trimmed), pa.int64()), bad
    except pa.ArrowInvalid:  # non-ASCII digits pass utf8_is_digit; the strict regex settles them
        return _by_regex(text, r"^\s*[+-]?[0-9]{1,18}\s*$", pa.int64())


def _coerce_float(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Decimals; plain ``123.45`` is recognised without a regex, the rest (signs, exponents) by ``_FLOAT``."""
    trimmed = pc.utf8_trim_whitespace(text)
    ok = _np(pc.utf8_is_digit(pc.replace_substring(trimmed, ".", "", max_replacements=1)))
    present = _np(pc.is_valid(text))
    rest = present & ~ok
    if rest.any():
        ok[np.flatnonzero(rest)] = _np(pc.match_substring_regex(text.filter(pa.array(rest)), _FLOAT))
    bad = present & ~ok
    if bad.any():
        trimmed = pc.if_else(pa.array(ok), trimmed, pa.scalar(None, pa.string()))
    try:
        return pc.cast(trimmed, pa.float64()), bad
    except pa.ArrowInvalid:  # non-ASCII digits pass utf8_is_digit; the strict regex settles them
        return _by_regex(text, _FLOAT, pa.float64())


def _coerce_bool(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    low = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    is_true = pc.is_in(low, value_set=pa.array(_TRUE))
    is_false = pc.is_in(low, value_set=pa.array(_FALSE))
    bad = _np(pc.is_valid(low)) & ~_np(is_true) & ~_np(is_false)
    out = pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))
    return out, bad


def coerce_column(column: pa.Array, spec: ColumnSpec, *, default_tz: str, log: FailureLog) -> pa.Array:
    """Type one raw column; failures go to ``log`` (row positions are chunk-relative)."""
    target = ARROW_TYPES[spec.type]
    if column.type == target:
        return column
    if spec.type is ColumnType.STRING:
        return _text(column)
    text = _text(column)
    if spec.type is ColumnType.INT64:
        out, bad = _coerce_int(text)
        reason = Reason.UNPARSEABLE_INT
    elif spec.type is ColumnType.FLOAT64:
        out, bad = _coerce_float(text)
        reason = Reason.UNPARSEABLE_FLOAT
    elif spec.type is ColumnType.BOOL:
        out, bad = _coerce_bool(text)
        reason = Reason.UNPARSEABLE_BOOL
    else:
        tz = "UTC" if spec.type is ColumnType.DATE else (spec.timezone or default_tz)
        parsed = parse_timestamps(column if not pa.types.is_string(column.type) else text,
                                  formats=spec.formats, tz=tz)
        out = parsed.values if spec.type is ColumnType.TIMESTAMP else parsed.values.cast(pa.date32())
        bad = parsed.unparsed
        reason = Reason.UNPARSEABLE_TIMESTAMP if spec.type is ColumnType.TIMESTAMP else Reason.UNPARSEABLE_DATE
        if parsed.ambiguous.any():
            idx = np.flatnonzero(parsed.ambiguous)
            log.add(idx, column=spec.name, reason=Reason.AMBIGUOUS_LOCAL_TIME, check="dst_unambiguous",
                    values=text.take(pa.array(idx)), critical=spec.critical)
    if bad.any():
        idx = np.flatnonzero(bad)
        log.add(idx, column=spec.name, reason=reason, check=f"parse_{spec.type.value}",
                values=text.take(pa.array(idx)), critical=spec.critical)
    return out


def coerce_table(raw: pa.Table, contract: Contract, log: FailureLog) -> pa.Table:
    """Type every contract column of ``raw``; missing columns are all-null and logged."""
    n = raw.num_rows
    columns = []
    for spec in contract.columns:
        if spec.name in raw.column_names:
            col = raw.column(spec.name).combine_chunks()
            columns.append(coerce_column(col, spec, default_tz=contract.source_timezone, log=log))
        else:
            log.add(np.arange(n), column=spec.name, reason=Reason.MISSING_COLUMN, check="column_present",
                    values=None, critical=spec.critical)
            columns.append(pa.nulls(n, ARROW_TYPES[spec.type]))
    return pa.Table.from_arrays(columns, schema=arrow_schema(contract))
