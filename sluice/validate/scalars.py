"""Text to typed Arrow arrays, vectorised: integers, decimals and booleans.

Each parser returns the typed array and a mask of the values present in the
text that could not be read as the type (they are null in the array).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_FLOAT = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$"
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]


def mask_of(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def text_or_null(column: pa.Array) -> pa.Array:
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


def without_plus(text: pa.Array) -> pa.Array:
    """``+5`` as ``5``: Arrow's integer cast refuses a leading plus sign."""
    plus = pc.starts_with(text, "+")
    if not pc.any(plus).as_py():
        return text
    return pc.if_else(plus, pc.utf8_slice_codeunits(text, 1), text)


def by_regex(text: pa.Array, regex: str, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    ok = mask_of(pc.match_substring_regex(text, regex))
    present = mask_of(pc.is_valid(text))
    bad = present & ~ok
    if bad.any():
        text = pc.if_else(pa.array(ok), text, pa.scalar(None, pa.string()))
    return pc.cast(without_plus(pc.utf8_trim_whitespace(text)), target), bad


def parse_int(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Digits with an optional sign; checked without a regex (it is the hottest path)."""
    trimmed = pc.utf8_trim_whitespace(text)
    unsigned = pc.utf8_ltrim(trimmed, characters="+-")
    # Byte lengths: the signs are ASCII, and a non-ASCII digit (more than one
    # byte) fails the cast below and is settled by the strict regex anyway.
    one_sign = pc.less_equal(pc.subtract(pc.binary_length(trimmed), pc.binary_length(unsigned)), 1)
    ok = mask_of(pc.and_(pc.and_(pc.utf8_is_digit(unsigned), one_sign), pc.less_equal(pc.binary_length(unsigned), 18)))
    bad = mask_of(pc.is_valid(text)) & ~ok
    if bad.any():
        trimmed = pc.if_else(pa.array(ok), trimmed, pa.scalar(None, pa.string()))
    try:
        return pc.cast(without_plus(trimmed), pa.int64()), bad
    except pa.ArrowInvalid:  # non-ASCII digits pass utf8_is_digit; the strict regex settles them
        return by_regex(text, r"^\s*[+-]?[0-9]{1,18}\s*$", pa.int64())


def parse_float(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Decimals; plain ``123.45`` is recognised without a regex, the rest (signs, exponents) by ``_FLOAT``."""
    trimmed = pc.utf8_trim_whitespace(text)
    ok = mask_of(pc.utf8_is_digit(pc.replace_substring(trimmed, ".", "", max_replacements=1)))
    present = mask_of(pc.is_valid(text))
    rest = present & ~ok
    if rest.any():
        ok[np.flatnonzero(rest)] = mask_of(pc.match_substring_regex(text.filter(pa.array(rest)), _FLOAT))
    bad = present & ~ok
    if bad.any():
        trimmed = pc.if_else(pa.array(ok), trimmed, pa.scalar(None, pa.string()))
    try:
        return pc.cast(trimmed, pa.float64()), bad
    except pa.ArrowInvalid:  # non-ASCII digits pass utf8_is_digit; the strict regex settles them
        return by_regex(text, _FLOAT, pa.float64())


def parse_bool(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    low = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    is_true = pc.is_in(low, value_set=pa.array(_TRUE))
    is_false = pc.is_in(low, value_set=pa.array(_FALSE))
    bad = mask_of(pc.is_valid(low)) & ~mask_of(is_true) & ~mask_of(is_false)
    out = pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))
    return out, bad
