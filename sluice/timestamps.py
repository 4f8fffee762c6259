"""Vectorised timestamp normalisation to UTC, on Arrow compute kernels.

Each column declares an ordered list of formats. Every format is tried, in
order, on the values still unparsed, one vectorised call per format:

- ``ISO8601``: ISO 8601 with or without an offset (``Z``, ``+01:00``, ``+0100``),
  ``T`` or space separated, with optional fractional seconds, or a bare date;
- ``epoch_s`` / ``epoch_ms``: integer seconds or milliseconds since 1970;
- any ``strptime`` format, e.g. ``%d/%m/%Y %H:%M:%S`` (with ``%z`` for offsets).

Values with an offset are converted to UTC. Naive values are read in the
column's (or the contract's) source time zone, then converted. A local time
that does not exist or is ambiguous across a DST change is reported, never
guessed: the earliest and latest readings of it differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import ContractError

UTC_US = pa.timestamp("us", tz="UTC")
NAIVE_US = pa.timestamp("us")
_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
_ISO = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:[zZ]|[+-]\d{2}(?::?\d{2})?)?$"
_INTEGER = r"^[+-]?\d{1,16}$"
# Epoch values past 2200 are almost certainly a unit mix-up.
_EPOCH_MAX_S = 7_258_118_400
_KEYWORDS = ("ISO8601", "epoch_s", "epoch_ms")
_FORMAT_CHARS = re.compile(r"%[a-zA-Z]")


@dataclass(frozen=True)
class ParsedTimestamps:
    values: pa.Array  # timestamp[us, UTC]
    unparsed: np.ndarray  # bool: non-empty text that no format could read
    ambiguous: np.ndarray  # bool: local time that is ambiguous or does not exist


def ensure_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ContractError(
            f"unknown time zone {name!r}", hint="use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None


def ensure_formats_valid(formats: list[str]) -> None:
    """Reject a format that is neither a keyword nor a strptime pattern."""
    for fmt in formats:
        if fmt not in _KEYWORDS and not _FORMAT_CHARS.search(fmt):
            raise ContractError(
                f"timestamp format {fmt!r} is not ISO8601, epoch_s, epoch_ms or a strptime pattern"
            )


def _mask(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def _localise(naive: pa.Array, tz: str) -> tuple[pa.Array, np.ndarray]:
    """Read naive times in ``tz``; flag times a DST change makes ambiguous or skip."""
    if tz == "UTC":
        return pc.assume_timezone(naive, timezone="UTC").cast(UTC_US), np.zeros(len(naive), dtype=bool)
    early = pc.assume_timezone(naive, timezone=tz, ambiguous="earliest", nonexistent="earliest").cast(UTC_US)
    late = pc.assume_timezone(naive, timezone=tz, ambiguous="latest", nonexistent="latest").cast(UTC_US)
    lost = _mask(pc.not_equal(early, late))
    return pc.if_else(pa.array(lost), pa.nulls(len(naive), UTC_US), early), lost


def _cast_iso(text: pa.Array, target: pa.DataType) -> pa.Array:
    try:
        return pc.cast(text, target)
    except pa.ArrowInvalid:
        # A value that looks like ISO 8601 but is out of range (month 13):
        # fall back to pandas, which nulls just that value.
        utc = target.tz is not None
        parsed = pd.to_datetime(pd.Series(text.to_pylist(), dtype=object), format="ISO8601", errors="coerce", utc=utc)
        return pa.array(parsed.astype("datetime64[us, UTC]" if utc else "datetime64[us]"), type=target, from_pandas=True)


def _parse_iso(text: pa.Array, tz: str) -> tuple[pa.Array, np.ndarray]:
    offset = _mask(pc.match_substring_regex(text, _OFFSET))
    if offset.all():
        try:
            return pc.cast(text, UTC_US), np.zeros(len(text), dtype=bool)
        except pa.ArrowInvalid:
            pass
    shaped = _mask(pc.match_substring_regex(text, _ISO))
    offset &= shaped
    naive = shaped & ~offset
    out = pa.nulls(len(text), UTC_US)
    lost = np.zeros(len(text), dtype=bool)
    if offset.any():
        out = _scatter(out, offset, _cast_iso(text.filter(pa.array(offset)), UTC_US))
    if naive.any():
        local, lost_sub = _localise(_cast_iso(text.filter(pa.array(naive)), NAIVE_US), tz)
        out = _scatter(out, naive, local)
        lost[np.flatnonzero(naive)[lost_sub]] = True
    return out, lost


def _parse_epoch(text: pa.Array, unit: str) -> pa.Array:
    is_int = _mask(pc.match_substring_regex(text, _INTEGER))
    out = pa.nulls(len(text), UTC_US)
    if is_int.any():
        raw = pc.cast(text.filter(pa.array(is_int)), pa.int64())
        scale = 1_000 if unit == "ms" else 1_000_000
        limit = _EPOCH_MAX_S * (1_000 if unit == "ms" else 1)
        sane = pc.and_(pc.greater_equal(raw, 0), pc.less_equal(raw, limit))
        micros = pc.if_else(sane, pc.multiply(raw, scale), pa.scalar(None, pa.int64()))
        out = _scatter(out, is_int, micros.cast(pa.int64()).view(UTC_US))
    return out


def _verify_strptime(text: pa.Array, parsed: pa.Array, fmt: str) -> pa.Array:
    """Arrow's strptime rolls impossible dates over (31 Feb -> 2 Mar); reject those.

    A rolled-over date lands on day 1, 2 or 3 of the next month (day 4 in UTC
    after a large negative offset), so only
    values parsed onto those days are re-read strictly by pandas, which refuses
    impossible dates.
    """
    got = ~_mask(pc.is_null(parsed))
    if not got.any():
        return parsed
    doubt = got & _mask(pc.less_equal(pc.day(parsed), 4))  # 4: an offset can push day 3 into day 4 UTC
    if not doubt.any():
        return parsed
    idx = np.flatnonzero(doubt)
    subset = pd.Series(text.take(pa.array(idx)).to_pylist(), dtype=object)
    exact = pd.to_datetime(subset, format=fmt, errors="coerce", utc="%z" in fmt)
    wrong = np.zeros(len(text), dtype=bool)
    wrong[idx[exact.isna().to_numpy()]] = True
    return pc.if_else(pa.array(wrong), pa.scalar(None, parsed.type), parsed)


def _parse_strptime(text: pa.Array, fmt: str, tz: str) -> tuple[pa.Array, np.ndarray]:
    parsed = _verify_strptime(text, pc.strptime(text, format=fmt, unit="us", error_is_null=True), fmt)
    if "%z" in fmt:
        return parsed.cast(UTC_US), np.zeros(len(text), dtype=bool)
    return _localise(parsed, tz)


def _scatter(base: pa.Array, where: np.ndarray, values: pa.Array) -> pa.Array:
    """Place ``values`` (one per True in ``where``) into ``base``."""
    positions = np.full(len(base), -1, dtype=np.int64)
    positions[where] = np.arange(int(where.sum()))
    taken = values.take(pa.array(positions, mask=positions < 0))
    return pc.if_else(pa.array(where), taken, base)


def parse_timestamps(values: pa.Array, *, formats: list[str], tz: str) -> ParsedTimestamps:
    """Parse text timestamps in any of ``formats`` to UTC microseconds.

    Empty strings and nulls stay null and are not failures (nullability is
    checked by validation). Already-typed timestamps are converted to UTC.
    """
    ensure_timezone(tz)
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        return _from_typed(values, tz)
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    todo = _mask(pc.greater(pc.utf8_length(text), 0)).copy()
    result = pa.nulls(len(text), UTC_US)
    ambiguous = np.zeros(len(text), dtype=bool)
    for fmt in formats:
        if not todo.any():
            break
        idx = np.flatnonzero(todo)
        sub = text.take(pa.array(idx))
        if fmt == "ISO8601":
            parsed, amb = _parse_iso(sub, tz)
        elif fmt in ("epoch_s", "epoch_ms"):
            parsed, amb = _parse_epoch(sub, fmt.removeprefix("epoch_")), np.zeros(len(idx), dtype=bool)
        else:
            parsed, amb = _parse_strptime(sub, fmt, tz)
        got = ~np.asarray(parsed.is_null().to_numpy(zero_copy_only=False))
        hit = np.zeros(len(text), dtype=bool)
        hit[idx[got]] = True
        if got.any():
            result = _scatter(result, hit, parsed.filter(pa.array(got)))
        ambiguous[idx[amb]] = True
        todo[idx[got | amb]] = False
    return ParsedTimestamps(values=result, unparsed=todo, ambiguous=ambiguous)


def _from_typed(values: pa.Array, tz: str) -> ParsedTimestamps:
    none = np.zeros(len(values), dtype=bool)
    if pa.types.is_date(values.type):
        values = values.cast(NAIVE_US)
    if values.type.tz is not None:
        return ParsedTimestamps(values=values.cast(UTC_US), unparsed=none, ambiguous=none)
    local, lost = _localise(values.cast(NAIVE_US), tz)
    return ParsedTimestamps(values=local, unparsed=none, ambiguous=lost)
