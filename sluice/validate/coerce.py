"""Explicit, vectorised typing of raw columns to the contract's types.

A value that cannot be read as its declared type becomes null and is recorded
in the :class:`~sluice.validate.quality.FailureLog` with a reason code. Nothing is
inferred: a column is read as exactly the type its contract declares.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.settings import RecordLimits, get_settings
from sluice.validate.contracts import ColumnSpec, ColumnType, Contract
from sluice.validate.quality import FailureLog, Reason
from sluice.validate.scalars import mask_of, parse_bool, parse_float, parse_int, text_or_null
from sluice.validate.timestamps import parse_timestamps

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.STRING: pa.string(),
    ColumnType.INT64: pa.int64(),
    ColumnType.FLOAT64: pa.float64(),
    ColumnType.BOOL: pa.bool_(),
    ColumnType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    ColumnType.DATE: pa.date32(),
}
EXCERPT_CHARS = 1024  # of a value too large to keep whole


def arrow_type(spec: ColumnSpec) -> pa.DataType:
    """The Arrow type of a column; a list column is a list of its items' type."""
    if spec.type is ColumnType.LIST:
        return pa.list_(ARROW_TYPES[spec.items or ColumnType.STRING])
    return ARROW_TYPES[spec.type]


def arrow_schema(contract: Contract) -> pa.Schema:
    return pa.schema([(c.name, arrow_type(c)) for c in contract.columns])


def as_text(column: pa.Array) -> pa.Array:
    """Any raw column as text for a quarantine record: nested values as JSON, bytes decoded leniently."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if column.type == pa.string():
        return column
    if not (_nested(column.type) or pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        try:
            return column.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    try:
        return pa.array([None if v is None else _one_text(v) for v in column.to_pylist()], pa.string())
    except (OverflowError, ValueError, RecursionError, pa.ArrowException):  # year 0 or 300000, nested too deep
        return pa.array(
            [None if not column[i].is_valid else column.slice(i, 1).to_string(window=3) for i in range(len(column))],
            pa.string(),
        )


def _one_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.dumps(value, default=str, ensure_ascii=False)


def _nested(kind: pa.DataType) -> bool:
    return bool(pa.types.is_nested(kind) or pa.types.is_union(kind))


def _fits_directly(kind: pa.DataType, target: ColumnType) -> bool:
    """A file type that becomes ``target`` by a plain cast, with no text in between."""
    if target is ColumnType.INT64:
        return bool(pa.types.is_integer(kind))
    if target is ColumnType.FLOAT64:
        return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind))
    if target in (ColumnType.TIMESTAMP, ColumnType.DATE):
        return bool(pa.types.is_timestamp(kind) or pa.types.is_date(kind))
    return bool(pa.types.is_null(kind))


def _wrong_type(column: pa.Array, spec: ColumnSpec, log: FailureLog) -> pa.Array:
    """Every present value of a type with no road to ``spec.type`` is a failure naming that type."""
    idx = np.flatnonzero(mask_of(pc.is_valid(column)))
    log.add(
        idx,
        column=spec.name,
        reason=Reason.WRONG_TYPE,
        check=f"type_{column.type}",
        values=as_text(column.take(pa.array(idx))),
        critical=spec.critical,
    )
    return pa.nulls(len(column), arrow_type(spec))


def _decoded(column: pa.Array, spec: ColumnSpec, log: FailureLog) -> pa.Array:
    """Bytes as UTF-8 text; a value that is not UTF-8 is ``wrong_type`` (and null)."""
    try:
        return column.cast(pa.string())
    except pa.ArrowInvalid:
        pass
    texts: list[str | None] = []
    for value in column.to_pylist():
        try:
            texts.append(None if value is None else value.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(None)
    bad = mask_of(pc.is_valid(column)) & ~mask_of(pc.is_valid(pa.array(texts, pa.string())))
    idx = np.flatnonzero(bad)
    log.add(
        idx,
        column=spec.name,
        reason=Reason.WRONG_TYPE,
        check="utf8_text",
        values=as_text(column.take(pa.array(idx))),
        critical=spec.critical,
    )
    return pa.array(texts, pa.string())


def _typed(column: pa.Array, spec: ColumnSpec, *, default_tz: str, log: FailureLog) -> pa.Array | None:
    """A column of the file's own (non-text) type cast to ``spec.type``; None: go through its text."""
    target = ARROW_TYPES[spec.type]
    if spec.type in (ColumnType.TIMESTAMP, ColumnType.DATE):
        return (
            None
            if not _fits_directly(column.type, spec.type)
            else _parsed(column, spec, column, default_tz=default_tz, log=log, failed=Reason.WRONG_TYPE)
        )
    try:
        return pc.cast(column, target, safe=not pa.types.is_floating(target))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # an integer out of range: its text says which


def coerce_column(
    column: pa.Array, spec: ColumnSpec, *, default_tz: str, log: FailureLog, keep_empty: bool = False
) -> pa.Array:
    """Type one raw column; failures go to ``log`` (row positions are chunk-relative).

    Text is typed by the contract. A file's own types (Parquet) are cast
    directly where that loses nothing the contract keeps (integers, floats,
    timestamps), read through their text otherwise (a failure is then
    ``wrong_type``), and refused as ``wrong_type`` when they have no text
    (structs, lists, maps).
    """
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_large_string(column.type):
        column = column.cast(pa.string())
    if spec.type is ColumnType.LIST:
        return coerce_list(column, spec, default_tz=default_tz, log=log)
    kind = column.type
    if _nested(kind):
        return _wrong_type(column, spec, log)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        column = _decoded(column, spec, log)
    elif kind != pa.string():
        if kind == ARROW_TYPES[spec.type] and spec.type is not ColumnType.TIMESTAMP:
            return column
        if _fits_directly(kind, spec.type):
            typed = _typed(column, spec, default_tz=default_tz, log=log)
            if typed is not None:
                return typed
        return _from_text(text_or_null(column), spec, column, default_tz=default_tz, log=log, failed=Reason.WRONG_TYPE)
    if keep_empty and spec.type is ColumnType.STRING:
        return column
    return _from_text(text_or_null(column), spec, column, default_tz=default_tz, log=log, failed=None)


def _from_text(
    text: pa.Array, spec: ColumnSpec, raw: pa.Array, *, default_tz: str, log: FailureLog, failed: Reason | None
) -> pa.Array:
    """Type text by the contract; ``failed`` overrides the reason (values that were not text in the file)."""
    if spec.type is ColumnType.STRING:
        return text
    if spec.type is ColumnType.INT64:
        out, bad = parse_int(text)
        reason = Reason.UNPARSEABLE_INT
    elif spec.type is ColumnType.FLOAT64:
        out, bad = parse_float(text)
        reason = Reason.UNPARSEABLE_FLOAT
    elif spec.type is ColumnType.BOOL:
        out, bad = parse_bool(text)
        reason = Reason.UNPARSEABLE_BOOL
    else:
        return _parsed(text, spec, text, default_tz=default_tz, log=log, failed=failed)
    if bad.any():
        idx = np.flatnonzero(bad)
        log.add(
            idx,
            column=spec.name,
            reason=failed or reason,
            check=_check_name(spec, raw, failed),
            values=text.take(pa.array(idx)),
            critical=spec.critical,
        )
    return out


def _check_name(spec: ColumnSpec, raw: pa.Array, failed: Reason | None) -> str:
    return f"parse_{spec.type.value}" if failed is None else f"{spec.type.value}_from_{raw.type}"


def _parsed(
    values: pa.Array, spec: ColumnSpec, text: pa.Array, *, default_tz: str, log: FailureLog, failed: Reason | None
) -> pa.Array:
    """Timestamps and dates: text by the contract's formats, typed values converted to UTC."""
    tz = "UTC" if spec.type is ColumnType.DATE else (spec.timezone or default_tz)
    parsed = parse_timestamps(values, formats=spec.formats, tz=tz)
    out = parsed.values if spec.type is ColumnType.TIMESTAMP else parsed.values.cast(pa.date32())
    reason = Reason.UNPARSEABLE_TIMESTAMP if spec.type is ColumnType.TIMESTAMP else Reason.UNPARSEABLE_DATE
    for mask, why, check, critical in (
        (parsed.unparsed, failed or reason, _check_name(spec, values, failed), spec.critical),
        (parsed.ambiguous, Reason.AMBIGUOUS_LOCAL_TIME, "dst_unambiguous", spec.critical),
        (parsed.truncated, Reason.TRUNCATED_PRECISION, "microsecond_precision", False),
    ):
        if mask.any():
            idx = np.flatnonzero(mask)
            log.add(
                idx,
                column=spec.name,
                reason=why,
                check=check,
                values=as_text(text.take(pa.array(idx))),
                critical=critical,
            )
    return out


def excerpt(values: pa.Array, limit: int = EXCERPT_CHARS) -> pa.Array:
    """Text values cut to ``limit`` characters."""
    return pc.utf8_slice_codeunits(values, 0, limit)


def _within_field_limit(column: pa.Array, spec: ColumnSpec, limit: int, log: FailureLog) -> pa.Array:
    """A text value over ``limit`` bytes quarantines its record (an excerpt is kept) and is not typed."""
    if not (pa.types.is_string(column.type) or pa.types.is_binary(column.type)):
        return column
    lengths = pc.binary_length(column)
    longest = pc.max(lengths).as_py()
    if longest is None or longest <= limit:  # nearly always: one pass, no mask
        return column
    over = mask_of(pc.greater(lengths, limit))
    idx = np.flatnonzero(over)
    log.add(
        idx,
        column=spec.name,
        reason=Reason.FIELD_TOO_LARGE,
        check=f"field_bytes<={limit}",
        values=excerpt(as_text(column.take(pa.array(idx)))),
        critical=True,
    )
    return pc.if_else(pa.array(over), pa.scalar(None, column.type), column)


def _cut_to_max_length(typed: pa.Array, spec: ColumnSpec, log: FailureLog) -> pa.Array:
    """A warning column's text over ``max_length`` characters is kept cut to it; the breach is counted.

    Critical columns are left to validation, which quarantines the row.
    """
    if spec.type is not ColumnType.STRING or not spec.max_length or spec.critical:
        return typed
    longest = pc.max(pc.binary_length(typed)).as_py()
    if longest is None or longest <= spec.max_length:  # no more characters than bytes: nothing to count
        return typed
    over = mask_of(pc.greater(pc.utf8_length(typed), spec.max_length))
    if not over.any():
        return typed
    idx = np.flatnonzero(over)
    log.add(
        idx,
        column=spec.name,
        reason=Reason.TOO_LONG,
        check=f"str_length(None, {spec.max_length})",
        values=typed.take(pa.array(idx)),
        critical=False,
    )
    return pc.if_else(pa.array(over), pc.utf8_slice_codeunits(typed, 0, spec.max_length), typed)


def coerce_table(
    raw: pa.Table,
    contract: Contract,
    log: FailureLog,
    limits: RecordLimits | None = None,
    *,
    keep_empty: bool = False,
) -> pa.Table:
    """Type every contract column of ``raw``; missing columns are all-null and logged (``keep_empty``: see
    :func:`coerce_column`)."""
    n = raw.num_rows
    field_limit = (limits or get_settings().record_limits()).max_field_bytes
    columns = []
    for spec in contract.columns:
        if spec.name in raw.column_names:
            col = _within_field_limit(raw.column(spec.name).combine_chunks(), spec, field_limit, log)
            typed = coerce_column(col, spec, default_tz=contract.source_timezone, log=log, keep_empty=keep_empty)
            columns.append(_cut_to_max_length(typed, spec, log))
        else:
            log.add(
                np.arange(n),
                column=spec.name,
                reason=Reason.MISSING_COLUMN,
                check="column_present",
                values=None,
                critical=spec.critical,
            )
            columns.append(pa.nulls(n, arrow_type(spec)))
    return pa.Table.from_arrays(columns, schema=arrow_schema(contract))


def coerce_list(column: pa.Array, spec: ColumnSpec, *, default_tz: str, log: FailureLog) -> pa.Array:
    """A list column's items typed as ``spec.items``; a failed item fails its row (and becomes null).

    Only lists are lists: any other present value is ``wrong_type``.
    """
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), arrow_type(spec))
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
        return _wrong_type(column, spec, log)
    column = column.cast(pa.list_(column.type.value_type)) if pa.types.is_large_list(column.type) else column
    item = spec.model_copy(update={"type": spec.items or ColumnType.STRING, "items": None, "nullable": True})
    item_log = FailureLog()
    typed = coerce_column(pc.list_flatten(column), item, default_tz=default_tz, log=item_log)
    parents = np.asarray(pc.list_parent_indices(column).to_numpy(zero_copy_only=False), dtype=np.int64)
    for part in item_log.parts:
        log.parts.append(part.set_column(0, "row", pa.array(parents[part.column("row").to_numpy()], pa.int64())))
    offsets = pc.subtract(column.offsets, column.offsets[0])
    return pa.ListArray.from_arrays(offsets, typed, mask=pc.is_null(column))
