"""Validate one raw chunk: type it, check it with pandera, split valid from quarantine.

Every row that is read ends in exactly one place: the valid table (with its
partition date and provenance) or the quarantine table (with the reason code,
check, column, source file and line, run id and the original values).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd
import pandera.errors
import pyarrow as pa
import pyarrow.compute as pc

from sluice.formats import MalformedRow, RawChunk
from sluice.governance.protect import Protector, protector_for
from sluice.settings import get_settings
from sluice.validate.clean import certainly_clean
from sluice.validate.coerce import as_text, coerce_table, excerpt
from sluice.validate.contracts import ColumnType, Contract
from sluice.validate.quality import FailureLog, Reason
from sluice.validate.references import ORPHAN_CHECK, ParentKeys, ReferencePolicy, orphan_mask
from sluice.validate.schema import build_schema, reason_for, register_backends

PARTITION = "dt"
BATCH_COL = "_batch_id"
ROW_COL = "_source_row"
# The original text of each value that failed a warning-level check (and was
# nulled, cut or kept), as a JSON object {column: text}; null on rows without one.
WARNINGS_COL = "_warnings"

QUARANTINE_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("dt", pa.date32()),
        ("run_id", pa.string()),
        ("batch_id", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("reason", pa.string()),
        ("check", pa.string()),
        ("column", pa.string()),
        ("value", pa.string()),
        ("failures", pa.string()),
        ("record", pa.map_(pa.string(), pa.string())),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class BatchContext:
    """Where a chunk came from, stamped on every row and quarantine entry."""

    dataset: str
    run_id: str
    batch_id: str
    source_file: str
    ingest_date: date


@dataclass
class ChunkResult:
    valid: pa.Table
    quarantine: pa.Table
    rows_read: int
    warnings: Counter[str] = field(default_factory=Counter)
    # Valid rows whose parent has not landed, waiting for it (a reference with policy hold).
    held: pa.Table | None = None
    orphans: int = 0  # rows whose reference the parent lacks, under any policy


def _texts(values: pd.Series, missing: str) -> list[str | None]:
    """Failure cases as text; a missing value reads as pandas prints it for the column's type."""
    return [None if v is None else missing if v is pd.NA or v is pd.NaT else str(v) for v in values]


def _pandera_failures(typed: pa.Table, contract: Contract, log: FailureLog) -> None:
    if certainly_clean(typed, contract):  # pandera would find nothing (:mod:`sluice.validate.clean`)
        return
    frame = typed.to_pandas(types_mapper=pd.ArrowDtype)
    register_backends()
    try:
        build_schema(contract).validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        critical = {c.name: c.critical for c in contract.columns}
        missing = {
            c.name: "NaT" if c.type in (ColumnType.TIMESTAMP, ColumnType.DATE) else "<NA>" for c in contract.columns
        }
        schema_level = cases["index"].isna()
        if schema_level.any():
            first = cases[schema_level].iloc[0]
            log.add(
                np.arange(typed.num_rows),
                column=str(first["column"]),
                reason=Reason.WRONG_TYPE,
                check=str(first["check"]),
                values=None,
                critical=True,
            )
        cases = cases[~schema_level]
        for (column, check), group in cases.groupby(["column", "check"], sort=False):
            log.add(
                group["index"].to_numpy(dtype=np.int64),
                column=str(column),
                reason=reason_for(str(check)),
                check=str(check),
                values=_texts(group["failure_case"], missing.get(str(column), "<NA>")),
                critical=critical.get(str(column), True),
            )


def _summaries(failures: pd.DataFrame) -> pd.Series:
    """'column:reason; column:reason' per failing row, in row order, vectorised."""
    tags = (failures["column"] + ":" + failures["reason"]).rename("tag")
    frame = pd.DataFrame({"row": failures["row"].to_numpy(), "tag": tags.to_numpy()})
    frame = frame.drop_duplicates().sort_values("row", kind="stable")
    rows = frame["row"].to_numpy()
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    offsets = pa.array(np.r_[starts, len(rows)].astype(np.int32))
    lists = pa.ListArray.from_arrays(offsets, pa.array(frame["tag"].to_numpy(dtype=object), pa.string()))
    return pd.Series(pc.binary_join(lists, "; ").to_pylist(), index=rows[starts])


def _records(raw: pa.Table, positions: np.ndarray) -> pa.Array:
    """The original values of the rows at ``positions`` as map<column, text>."""
    k, names = len(positions), raw.column_names
    if k == 0 or not names:
        return pa.MapArray.from_arrays(
            pa.array(np.zeros(k + 1, dtype=np.int32)), pa.array([], pa.string()), pa.array([], pa.string())
        )
    take = pa.array(positions)
    values = pa.concat_arrays([_kept_text(raw.column(c).combine_chunks().take(take)) for c in names])
    m = len(names)
    order = (np.arange(m)[None, :] * k + np.arange(k)[:, None]).ravel()
    items = values.take(pa.array(order))
    keys = pa.array(np.tile(np.array(names, dtype=object), k), pa.string())
    offsets = pa.array(np.arange(0, k * m + 1, m, dtype=np.int32))
    return pa.MapArray.from_arrays(offsets, keys, items)


def _kept_text(column: pa.Array) -> pa.Array:
    """A raw value as the quarantine keeps it: whole, unless it is over the field limit."""
    text = as_text(column)
    limit = get_settings().max_field_bytes
    over = pc.greater(pc.binary_length(text), limit)
    return pc.if_else(over, excerpt(text), text) if pc.any(over).as_py() else text


def warning_texts(soft: pd.DataFrame, n: int) -> pa.Array:
    """Per row, the original text of its failed warning values as a JSON object (null where none).

    Vectorised over the failure cases: each distinct value is JSON-encoded
    once, and rows with one failed value (nearly all) need no grouping.
    """
    texts = soft[[isinstance(v, str) for v in soft["value"].tolist()]] if len(soft) else soft
    if not len(texts):  # no failed warning value with a text (a missing column has none)
        return pa.nulls(n, pa.string())
    out = np.full(n, None, dtype=object)
    texts = texts.drop_duplicates(["row", "column"])
    encoded = {v: json.dumps(v, ensure_ascii=False) for v in texts["value"].unique()}
    keys = {c: json.dumps(c, ensure_ascii=False) for c in texts["column"].unique()}
    pieces = texts["column"].map(keys) + ": " + texts["value"].map(encoded)
    rows = texts["row"].to_numpy(dtype=np.int64)
    single = ~pd.Series(rows).duplicated(keep=False).to_numpy()
    out[rows[single]] = ("{" + pieces[single] + "}").to_numpy(dtype=object)
    if not single.all():
        joined = pieces[~single].groupby(rows[~single], sort=False).agg(", ".join)
        out[joined.index.to_numpy(dtype=np.int64)] = ("{" + joined + "}").to_numpy(dtype=object)
    return pa.array(out, pa.string())


def _quarantine_rows(
    ctx: BatchContext, rows: np.ndarray, first: pd.DataFrame, summary: pd.Series, records: pa.Array
) -> pa.Table:
    n = len(rows)
    now = datetime.now(timezone.utc)
    return pa.table(
        {
            "dataset": pa.repeat(ctx.dataset, n),
            "dt": pa.repeat(pa.scalar(ctx.ingest_date, pa.date32()), n),
            "run_id": pa.repeat(ctx.run_id, n),
            "batch_id": pa.repeat(ctx.batch_id, n),
            "source_file": pa.repeat(ctx.source_file, n),
            "source_row": pa.array(rows, pa.int64()),
            "reason": pa.array(first["reason"].to_numpy(dtype=object), pa.string()),
            "check": pa.array(first["check"].to_numpy(dtype=object), pa.string()),
            "column": pa.array(first["column"].to_numpy(dtype=object), pa.string()),
            "value": pa.array(
                first["value"].astype(object).where(first["value"].notna(), None).to_numpy(), pa.string()
            ),
            "failures": pa.array(summary.to_numpy(dtype=object), pa.string()),
            "record": records,
            "quarantined_at": pa.repeat(pa.scalar(now, pa.timestamp("us", tz="UTC")), n),
        },
        schema=QUARANTINE_SCHEMA,
    )


def malformed_quarantine(ctx: BatchContext, malformed: list[MalformedRow]) -> pa.Table:
    """Quarantine entries for rows that could not be split into fields at all."""
    if not malformed:
        return QUARANTINE_SCHEMA.empty_table()
    first = pd.DataFrame(
        {
            "reason": [m.reason.value for m in malformed],
            "check": ["parse_record"] * len(malformed),
            "column": [""] * len(malformed),
            "value": [m.detail for m in malformed],
        }
    )
    summary = pd.Series([f"record:{m.reason.value}" for m in malformed])
    raw = pa.table({"_raw": pa.array([m.text for m in malformed], pa.string())})
    rows = np.array([m.line for m in malformed], dtype=np.int64)
    return _quarantine_rows(ctx, rows, first, summary, _records(raw, np.arange(len(malformed))))


def _orphans(typed: pa.Table, contract: Contract, parents: ParentKeys, log: FailureLog) -> tuple[np.ndarray, int]:
    """Log the orphans of quarantine and warn references; return the rows a hold reference keeps back,
    and how many rows are orphans of any reference and not quarantined for another reason."""
    hold = np.zeros(typed.num_rows, dtype=bool)
    anyref = np.zeros(typed.num_rows, dtype=bool)
    logged = log.table()  # rows already quarantined for another reason are not counted as orphans
    bad = np.zeros(typed.num_rows, dtype=bool)
    bad[logged.filter(logged.column("critical")).column("row").to_numpy()] = True
    for ref in contract.references:
        if ref.to not in parents:
            continue
        mask = orphan_mask(typed, ref, parents[ref.to])
        anyref |= mask
        if ref.policy is ReferencePolicy.HOLD:
            hold |= mask
            continue
        rows = np.flatnonzero(mask)
        values = typed.column(ref.label).take(pa.array(rows)).combine_chunks() if len(rows) else None
        log.add(
            rows,
            column=ref.label,
            reason=Reason.ORPHAN_REFERENCE,
            check=ORPHAN_CHECK,
            values=values,
            critical=ref.policy is ReferencePolicy.QUARANTINE,
        )
    return hold, int((anyref & ~bad).sum())


def partition_dates(typed: pa.Table, contract: Contract) -> pa.Array:
    col = typed.column(contract.partition.column)
    spec = contract.column(contract.partition.column)
    return col.cast(pa.date32()) if spec.type is ColumnType.TIMESTAMP else col


def validate_chunk(
    chunk: RawChunk,
    contract: Contract,
    ctx: BatchContext,
    *,
    keep_empty: bool = False,
    protector: Protector | None = None,
    parents: ParentKeys | None = None,
) -> ChunkResult:
    """Type and validate ``chunk``; return the valid rows and the quarantine entries.

    ``keep_empty``: empty strings are values, not missing ones (typed sources: databases).
    The columns the contract protects leave protected (:mod:`sluice.governance.protect`),
    by ``protector`` or, when none is given, the one this process's settings make.
    ``parents``: the referenced datasets' keys (:mod:`sluice.validate.references`); without them,
    the contract's references are not checked.
    """
    log = FailureLog()
    log.extend(chunk.failures)  # values the reader refused come first: theirs is the row's reason
    typed = coerce_table(chunk.table, contract, log, keep_empty=keep_empty)
    _pandera_failures(typed, contract, log)
    hold, orphans = _orphans(typed, contract, parents, log) if parents is not None else (None, 0)
    failures = log.table().to_pandas()
    bad_mask = np.zeros(typed.num_rows, dtype=bool)
    warnings: Counter[str] = Counter()
    parts = [malformed_quarantine(ctx, chunk.malformed)]
    soft = failures.iloc[0:0]
    if len(failures):
        crit = failures[failures["critical"]]
        bad_mask[crit["row"].to_numpy(dtype=np.int64)] = True
        soft = failures[~failures["critical"] & ~bad_mask[failures["row"].to_numpy(dtype=np.int64)]]
        for (column, reason), count in soft.groupby(["column", "reason"]).size().items():
            warnings[f"{column}:{reason}"] += int(count)
        if len(crit):
            ordered = crit.reset_index(drop=True)
            first = ordered.drop_duplicates("row").set_index("row").sort_index()
            summary = _summaries(ordered)
            positions = first.index.to_numpy(dtype=np.int64)
            parts.append(_quarantine_rows(ctx, chunk.rows[positions], first, summary, _records(chunk.table, positions)))
    # A filter copies every column: skipped when no row goes to quarantine (nearly every chunk).
    clean = not bad_mask.any()
    keep = pa.array(~bad_mask)
    valid = typed if clean else typed.filter(keep)
    texts = warning_texts(soft, typed.num_rows)
    valid = valid.append_column(PARTITION, partition_dates(valid, contract))
    valid = valid.append_column(BATCH_COL, pa.repeat(ctx.batch_id, valid.num_rows))
    valid = valid.append_column(ROW_COL, pa.array(chunk.rows if clean else chunk.rows[~bad_mask], pa.int64()))
    valid = valid.append_column(WARNINGS_COL, texts if clean else texts.filter(keep))
    held = None
    if hold is not None and hold.any():
        waiting = pa.array(hold[~bad_mask])
        held, valid = valid.filter(waiting), valid.filter(pc.invert(waiting))
    quarantine = pa.concat_tables(parts)
    if contract.protected_columns:
        guard = protector or protector_for(contract)
        if guard is not None:
            valid, quarantine = guard.protect_valid(valid), guard.protect_quarantine(quarantine)
            held = guard.protect_valid(held) if held is not None else None
    return ChunkResult(
        valid=valid,
        quarantine=quarantine,
        rows_read=typed.num_rows + len(chunk.malformed),
        warnings=warnings,
        held=held,
        orphans=orphans,
    )
