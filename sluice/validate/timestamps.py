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
_ISO_BLOCK = 1024  # rows per cast when a column holds out-of-range ISO values
# Epoch values past 2200 are almost certainly a unit mix-up.
_EPOCH_MAX_S = 7_258_118_400
_KEYWORDS = ("ISO8601", "epoch_s", "epoch_ms")
_FORMAT_CHARS = re.compile(r"%[a-zA-Z]")
# Formats whose strftime rendering of a parsed value is the one text that parses to it.
_ROUND_TRIP = re.compile(r"^(?:[^%]|%[dmYHMS])*$")


@dataclass(frozen=True)
class ParsedTimestamps:
    values: pa.Array  # timestamp[us, UTC]
    unparsed: np.ndarray  # bool: non-empty text that no format could read
    ambiguous: np.ndarray  # bool: local time that is ambiguous or does not exist
    truncated: np.ndarray  # bool: finer than a microsecond in the file, truncated to one


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
            raise ContractError(f"timestamp format {fmt!r} is not ISO8601, epoch_s, epoch_ms or a strptime pattern")


def _mask(arr: pa.Array) -> np.ndarray:
    mask: np.ndarray = pc.fill_null(arr, False).to_numpy(zero_copy_only=False)
    return mask


def _localise(naive: pa.Array, tz: str) -> tuple[pa.Array, np.ndarray]:
    """Read naive times in ``tz``; flag times a DST change makes ambiguous or skip."""
    if tz == "UTC":
        return pc.assume_timezone(naive, timezone="UTC").cast(UTC_US), np.zeros(len(naive), dtype=bool)
    early = pc.assume_timezone(naive, timezone=tz, ambiguous="earliest", nonexistent="earliest").cast(UTC_US)
    late = pc.assume_timezone(naive, timezone=tz, ambiguous="latest", nonexistent="latest").cast(UTC_US)
    lost = _mask(pc.not_equal(early, late))
    return pc.if_else(pa.array(lost), pa.nulls(len(naive), UTC_US), early), lost


def _cast_iso(text: pa.Array, target: pa.DataType) -> pa.Array:
    """Arrow's ISO 8601 cast; values it refuses are read by pandas.

    A value can look like ISO 8601 and still be out of range (month 13,
    ``0000-00-00``): Arrow then fails the whole cast, while pandas nulls just
    that value. Values whose date part is out of range go to pandas directly;
    the rest are cast block by block, so only a block holding some other
    refused value (31 February) takes the slow pandas path.
    """
    try:
        return pc.cast(text, target)
    except pa.ArrowInvalid:
        pass
    dated = _mask(
        pc.is_valid(pc.strptime(pc.utf8_slice_codeunits(text, 0, 10), format="%Y-%m-%d", unit="s", error_is_null=True))
    )
    out = _Placed(len(text), target)
    if dated.any():
        out.put(dated, _cast_blocks(_subset(text, dated), target))
    if not dated.all():
        out.put(~dated, _pandas_iso(text.filter(pa.array(~dated)), target))
    return out.column()


def _cast_blocks(text: pa.Array, target: pa.DataType) -> pa.Array:
    try:
        return pc.cast(text, target)
    except pa.ArrowInvalid:
        if len(text) <= _ISO_BLOCK:
            return _pandas_iso(text, target)
    parts = []
    for start in range(0, len(text), _ISO_BLOCK):
        block = text.slice(start, _ISO_BLOCK)
        try:
            parts.append(pc.cast(block, target))
        except pa.ArrowInvalid:
            parts.append(_pandas_iso(block, target))
    return pa.concat_arrays(parts)


def _pandas_iso(text: pa.Array, target: pa.DataType) -> pa.Array:
    utc = target.tz is not None
    parsed = pd.to_datetime(pd.Series(text.to_pylist(), dtype=object), format="ISO8601", errors="coerce", utc=utc)
    return pa.array(parsed.astype("datetime64[us, UTC]" if utc else "datetime64[us]"), type=target, from_pandas=True)


def _has_offset(text: pa.Array, shaped: np.ndarray) -> np.ndarray:
    """Which ISO-shaped values carry a UTC offset (the ``_OFFSET`` suffix).

    A shaped value ending in ``Z`` longer than a bare date has a time and so
    the suffix: no regex needed for the common ``...Z`` form. The rest of the
    shaped values are matched against ``_OFFSET``.
    """
    zulu: np.ndarray = shaped & _mask(pc.and_(pc.ends_with(text, "Z"), pc.greater(pc.binary_length(text), 10)))
    rest = shaped & ~zulu
    if rest.any():
        zulu[np.flatnonzero(rest)] = _mask(pc.match_substring_regex(_subset(text, rest), _OFFSET))
    return zulu


def _parse_iso(text: pa.Array, tz: str) -> tuple[pa.Array, np.ndarray]:
    shaped = _mask(pc.match_substring_regex(text, _ISO))
    offset = _has_offset(text, shaped)
    naive = shaped & ~offset
    out = _Placed(len(text))
    lost = np.zeros(len(text), dtype=bool)
    if offset.any():
        out.put(offset, _cast_iso(_subset(text, offset), UTC_US))
    if naive.any():
        local, lost_sub = _localise(_cast_iso(_subset(text, naive), NAIVE_US), tz)
        out.put(naive, local)
        lost[np.flatnonzero(naive)[lost_sub]] = True
    return out.column(), lost


def _parse_epoch(text: pa.Array, unit: str) -> pa.Array:
    is_int = _mask(pc.match_substring_regex(text, _INTEGER))
    out = _Placed(len(text))
    if is_int.any():
        raw = pc.cast(_subset(text, is_int), pa.int64())
        scale = 1_000 if unit == "ms" else 1_000_000
        limit = _EPOCH_MAX_S * (1_000 if unit == "ms" else 1)
        sane = pc.and_(pc.greater_equal(raw, 0), pc.less_equal(raw, limit))
        micros = pc.if_else(sane, pc.multiply(raw, scale), pa.scalar(None, pa.int64()))
        out.put(is_int, micros.cast(pa.int64()).view(UTC_US))
    return out.column()


def _verify_strptime(text: pa.Array, parsed: pa.Array, fmt: str) -> pa.Array:
    """Arrow's strptime rolls impossible dates over (31 Feb -> 2 Mar); reject those.

    A rolled-over date lands on day 1, 2 or 3 of the next month (day 4 in UTC
    after a large negative offset), so only values parsed onto those days are
    in doubt. For purely numeric formats, a value whose parse renders back to
    the very same text is a real date; the others in doubt are re-read
    strictly by pandas, which refuses impossible dates.
    """
    got = ~_mask(pc.is_null(parsed))
    if not got.any():
        return parsed
    doubt = got & _mask(pc.less_equal(pc.day(parsed), 4))  # 4: an offset can push day 3 into day 4 UTC
    if not doubt.any():
        return parsed
    idx = np.flatnonzero(doubt)
    subset = text.take(pa.array(idx))
    if _ROUND_TRIP.match(fmt):  # whole seconds: rendered without a fraction
        rendered = pc.strftime(parsed.take(pa.array(idx)).cast(pa.timestamp("s")), format=fmt)
        same = _mask(pc.equal(rendered, subset))
        idx, subset = idx[~same], subset.filter(pa.array(~same))
        if not len(idx):
            return parsed
    exact = pd.to_datetime(pd.Series(subset.to_pylist(), dtype=object), format=fmt, errors="coerce", utc="%z" in fmt)
    wrong = np.zeros(len(text), dtype=bool)
    wrong[idx[exact.isna().to_numpy()]] = True
    return pc.if_else(pa.array(wrong), pa.scalar(None, parsed.type), parsed)


def _parse_strptime(text: pa.Array, fmt: str, tz: str) -> tuple[pa.Array, np.ndarray]:
    parsed = _verify_strptime(text, pc.strptime(text, format=fmt, unit="us", error_is_null=True), fmt)
    if "%z" in fmt:
        return parsed.cast(UTC_US), np.zeros(len(text), dtype=bool)
    return _localise(parsed, tz)


def _subset(values: pa.Array, where: np.ndarray) -> pa.Array:
    """The values where ``where`` is True (the array itself when all are)."""
    return values if where.all() else values.filter(pa.array(where))


class _Placed:
    """Parsed pieces of a column, put back in row order with a single ``take`` at the end."""

    def __init__(self, n: int, kind: pa.DataType = UTC_US) -> None:
        self.n, self.count, self.kind = n, 0, kind
        self.positions = np.full(n, -1, dtype=np.int64)
        self.parts: list[pa.Array] = []

    def put(self, where: np.ndarray, values: pa.Array) -> None:
        """``values`` (nulls allowed) for the rows where ``where`` is True."""
        rows = np.flatnonzero(where)
        self.positions[rows] = np.arange(self.count, self.count + len(rows))
        self.parts.append(values)
        self.count += len(rows)

    def column(self) -> pa.Array:
        if not self.parts:
            return pa.nulls(self.n, self.kind)
        values = pa.concat_arrays(self.parts) if len(self.parts) > 1 else self.parts[0]
        if self.count == self.n and len(self.parts) == 1:
            return values  # one piece covering every row, already in order
        return values.take(pa.array(self.positions, mask=self.positions < 0))


def parse_timestamps(values: pa.Array, *, formats: list[str], tz: str) -> ParsedTimestamps:
    """Parse text timestamps in any of ``formats`` to UTC microseconds.

    Empty strings and nulls stay null and are not failures (nullability is
    checked by validation). Already-typed timestamps are converted to UTC.
    """
    ensure_timezone(tz)
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        return _from_typed(values, tz)
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    todo = _mask(pc.greater(pc.binary_length(text), 0)).copy()
    placed = _Placed(len(text))
    ambiguous = np.zeros(len(text), dtype=bool)
    for fmt in formats:
        if not todo.any():
            break
        idx = np.flatnonzero(todo)
        parsed, amb = _parse_format(_subset(text, todo), fmt, tz)
        got = ~_mask(pc.is_null(parsed)) if parsed.null_count else np.ones(len(idx), dtype=bool)
        if got.any():
            hit = np.zeros(len(text), dtype=bool)
            hit[idx[got]] = True
            placed.put(hit, _subset(parsed, got))
        ambiguous[idx[amb]] = True
        todo[idx[got | amb]] = False
    return ParsedTimestamps(
        values=placed.column(), unparsed=todo, ambiguous=ambiguous, truncated=np.zeros(len(text), dtype=bool)
    )


def _parse_format(text: pa.Array, fmt: str, tz: str) -> tuple[pa.Array, np.ndarray]:
    """Parse non-empty ``text`` with one format: values (null where it does not fit) and ambiguity."""
    if fmt == "ISO8601":
        return _parse_iso(text, tz)
    if fmt in ("epoch_s", "epoch_ms"):
        return _parse_epoch(text, fmt.removeprefix("epoch_")), np.zeros(len(text), dtype=bool)
    return _parse_strptime(text, fmt, tz)


def _to_micros(values: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Typed timestamps in microseconds: nanoseconds truncated (and flagged), out-of-range values nulled."""
    unit = values.type.unit
    none = np.zeros(len(values), dtype=bool)
    target = pa.timestamp("us", tz=values.type.tz)
    if unit == "us":
        return values, none, none
    raw = values.view(pa.int64())
    if unit == "ns":
        truncated = _mask(pc.not_equal(pc.subtract(raw, pc.multiply(pc.divide(raw, 1000), 1000)), 0))
        return values.cast(target, safe=False), none, truncated
    limit = (2**63 - 1) // (1_000_000 if unit == "s" else 1_000)
    out = _mask(pc.greater(pc.abs(raw), limit))
    if out.any():
        values = pc.if_else(pa.array(out), pa.scalar(None, values.type), values)
    return values.cast(target), out, none


def _from_typed(values: pa.Array, tz: str) -> ParsedTimestamps:
    if pa.types.is_date(values.type):
        values = values.cast(NAIVE_US)
    values, out, truncated = _to_micros(values)
    if values.type.tz is not None:
        return ParsedTimestamps(
            values=values.cast(UTC_US), unparsed=out, ambiguous=np.zeros(len(values), bool), truncated=truncated
        )
    local, lost = _localise(values, tz)
    return ParsedTimestamps(values=local, unparsed=out, ambiguous=lost, truncated=truncated)
