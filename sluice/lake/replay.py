"""Quarantined rows back into the lake: re-validated against the current contract, or released as they are.

A quarantine entry keeps the row's original values (``record``). Replaying
rebuilds the raw rows of each original batch from them and validates them
with :func:`sluice.validate.chunk.validate_chunk`, as the ingestion did; a
release only types them (:func:`sluice.validate.coerce.coerce_table`), and
refuses rows that do not fit the lake's types. The rows that pass keep their
original batch id and source row (``_batch_id``, ``_source_row``) and are
committed with the ordinary protocol (:func:`sluice.lake.commit.commit_planned`)
as one batch, under the dataset's lease, at exactly the version that was
checked: :func:`landed` finds the rows that table version holds already
(committed by an earlier replay that stopped before its ledger row), and they
are not committed again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from sluice.errors import ConfigError, LakeConflictError, LakeError
from sluice.formats import RawChunk
from sluice.lake import staging
from sluice.lake.commit import (
    Batch,
    CommitOutcome,
    CommitPlan,
    CommitTarget,
    Fence,
    commit_planned,
    dedup_buckets,
    plan_commit,
)
from sluice.lake.quarantine import RAW_LINE_KEY, QuarantineEntry
from sluice.lake.quarantine_ledger import row_id
from sluice.lake.table import DedupedBucket, lake_dataset, lake_schema
from sluice.lake.write import evolve_schema
from sluice.validate.chunk import (
    BATCH_COL,
    PARTITION,
    ROW_COL,
    WARNINGS_COL,
    BatchContext,
    partition_dates,
    validate_chunk,
)
from sluice.validate.coerce import coerce_table
from sluice.validate.contracts import Contract
from sluice.validate.quality import FailureLog, Reason

REPLAY_SOURCE = "quarantine:"  # a replay batch's source: this prefix and the dataset
FILE_SCHEMES = ("file", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")


@dataclass
class Revalidated:
    """The rows of a set of entries that pass, by row id, and the ids of those that do not."""

    valid: list[pa.Table] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)
    unsplit: list[str] = field(default_factory=list)  # rows never split into fields: only a release can help
    reasons: dict[str, str] = field(default_factory=dict)  # why each failing row still fails

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.valid)


def entry_id(entry: QuarantineEntry) -> str:
    return row_id(entry.batch_id, entry.source_row)


def by_batch(entries: list[QuarantineEntry]) -> dict[str, list[QuarantineEntry]]:
    """Entries grouped by their original batch, one entry per row, in row order."""
    groups: dict[str, dict[int, QuarantineEntry]] = {}
    for e in entries:
        groups.setdefault(e.batch_id, {}).setdefault(e.source_row, e)
    return {b: [rows[r] for r in sorted(rows)] for b, rows in sorted(groups.items())}


def typed_source(source_file: str) -> bool:
    """Whether rows of ``source_file`` came from a typed source (a database), whose empty strings are values."""
    scheme, sep, _ = source_file.partition("://")
    return bool(sep) and scheme.lower() not in FILE_SCHEMES


def raw_chunk(entries: list[QuarantineEntry], contract: Contract) -> RawChunk:
    """The raw text rows of ``entries`` (one batch's), with the contract's columns their records hold."""
    names = [c for c in contract.column_names if any(c in e.record for e in entries)]
    table = pa.table({c: pa.array([e.record.get(c) for e in entries], pa.string()) for c in names})
    if not names:
        table = pa.table({"_": pa.nulls(len(entries), pa.string())}).drop_columns(["_"])
    return RawChunk(table, np.array([e.source_row for e in entries], dtype=np.int64))


def _splittable(entries: list[QuarantineEntry], out: Revalidated) -> list[QuarantineEntry]:
    kept = []
    for e in entries:
        if set(e.record) == {RAW_LINE_KEY}:
            out.unsplit.append(entry_id(e))
        else:
            kept.append(e)
    return kept


def revalidate(entries: list[QuarantineEntry], contract: Contract, run_id: str, ingest_date: date) -> Revalidated:
    """Validate each entry's original values against ``contract``, batch by batch."""
    out = Revalidated()
    for batch, group in by_batch(entries).items():
        rows = _splittable(group, out)
        if not rows:
            continue
        ctx = BatchContext(contract.name, run_id, batch, rows[0].source_file, ingest_date)
        result = validate_chunk(
            raw_chunk(rows, contract), contract, ctx, keep_empty=typed_source(rows[0].source_file), protector=None
        )
        still = dict(
            zip(
                result.quarantine.column("source_row").to_pylist(),
                result.quarantine.column("failures").to_pylist(),
                strict=True,
            )
        )
        for e in rows:
            if e.source_row in still:
                out.failing.append(entry_id(e))
                out.reasons[entry_id(e)] = str(still[e.source_row])
            else:
                out.passed.append(entry_id(e))
        out.valid.append(result.valid)
    return out


def _unfit(problem: dict[str, object]) -> bool:
    """Whether a typing problem keeps a row out of the lake: a value that does not convert, or a critical column
    missing; a warning column's text cut to its ``max_length`` (``too_long``) and a missing warning column fit."""
    if problem["reason"] == Reason.TOO_LONG.value:
        return False
    return problem["reason"] != Reason.MISSING_COLUMN.value or bool(problem["critical"])


class UnfitRowError(ConfigError):
    """A row a steward releases whose values do not fit the lake's types."""


def _stamped(typed: pa.Table, contract: Contract, batch: str, rows: list[QuarantineEntry]) -> pa.Table:
    n = typed.num_rows
    typed = typed.append_column(PARTITION, partition_dates(typed, contract))
    typed = typed.append_column(BATCH_COL, pa.repeat(batch, n))
    typed = typed.append_column(ROW_COL, pa.array([e.source_row for e in rows], pa.int64()))
    return typed.append_column(WARNINGS_COL, pa.nulls(n, pa.string()))


def release_rows(entries: list[QuarantineEntry], contract: Contract) -> Revalidated:
    """The entries' rows typed as the lake holds them, with no rule checked.

    Raises:
        UnfitRowError: a row is unsplit, or a value does not convert to its column's type, or a row has no
            partition value (the lake could not file it).
    """
    out = Revalidated()
    for batch, group in by_batch(entries).items():
        unsplit = [entry_id(e) for e in group if set(e.record) == {RAW_LINE_KEY}]
        if unsplit:
            raise UnfitRowError(
                f"row {unsplit[0]} was never split into fields and cannot be released as it is",
                hint="discard it (`ops quarantine discard`) and have the source deliver it again",
            )
        log = FailureLog()
        typed = coerce_table(
            raw_chunk(group, contract).table, contract, log, keep_empty=typed_source(group[0].source_file)
        )
        problems = [p for p in log.table().to_pylist() if _unfit(p)]
        if problems:
            first = problems[0]
            raise UnfitRowError(
                f"row {row_id(batch, group[first['row']].source_row)} does not fit the lake: column "
                f"{first['column']!r} ({first['reason']}, value {first['value']!r})",
                hint="fix the contract and replay it (`ops quarantine replay`), or discard it",
            )
        stamped = _stamped(typed, contract, batch, group)
        if pc.any(pc.is_null(stamped.column(PARTITION))).as_py():
            raise UnfitRowError(
                f"a row of batch {batch} has no {contract.partition.column} to file it under",
                hint="discard it (`ops quarantine discard`)",
            )
        out.valid.append(stamped)
        out.passed.extend(entry_id(e) for e in group)
    return out


def landed(lake_uri: str, version: int | None, ids: list[str], storage_options: dict[str, str] | None) -> set[str]:
    """Which of the row ids the lake table holds at ``version`` (by ``_batch_id`` and ``_source_row``)."""
    if version is None or not ids:
        return set()
    try:
        table = DeltaTable(lake_uri, version=version, storage_options=storage_options or None)
        batches = sorted({i.rpartition(":")[0] for i in ids})
        # Filtered here, not pushed down: the files' string statistics can be cut short of a whole batch id.
        found = lake_dataset(table).to_table(columns=[BATCH_COL, ROW_COL])
        found = found.filter(pc.is_in(found.column(BATCH_COL), pa.array(batches, pa.string())))
    except (OSError, pa.ArrowException) as exc:
        raise LakeError(f"cannot read {lake_uri} at version {version}: {exc}", hint="check the lake path") from None
    present = {
        row_id(b, r)
        for b, r in zip(found.column(BATCH_COL).to_pylist(), found.column(ROW_COL).to_pylist(), strict=True)
    }
    return present & set(ids)


def replay_batch(dataset: str, ids: list[str], rows: int = 0) -> Batch:
    """The batch a replay commits: the dataset's quarantine and a digest of the row ids it lands."""
    digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
    return Batch(REPLAY_SOURCE + dataset, digest, rows_read=rows)


def stage(run_dir: staging.StagePath, batch: Batch, tables: list[pa.Table]) -> None:
    """Stage the rows to commit as one complete batch of the run folder."""
    staged = staging.batch_dir(run_dir, 0, batch.id)
    staging.reset(staged)
    for i, table in enumerate(t for t in tables if t.num_rows):
        staging.write_valid(staged, table, i)
    staging.mark_complete(staged)


def commit_at(
    target: CommitTarget, batch: Batch, version: int | None, lease: Fence | None, metadata: dict[str, object]
) -> CommitOutcome:
    """Commit the staged ``batch`` as version ``version + 1`` only.

    Raises:
        LakeConflictError: the table moved on since ``version`` (the caller checks again and re-stages).
    """

    def planner(attempt: int) -> tuple[CommitPlan, DeltaTable | None]:
        plan = plan_commit(target, [batch], attempt)
        if plan.version != version and plan.batch_ids:
            raise LakeConflictError(f"{target.dataset}: the table moved on to version {plan.version} since {version}")
        return plan, None

    def run_dedup(plan: CommitPlan) -> list[DedupedBucket]:
        return dedup_buckets(target, plan, list(plan.buckets))

    return commit_planned(
        target,
        [batch],
        planner,
        metadata=metadata,
        lease=lease,
        dedup=run_dedup,
        evolve=lambda: evolve_schema(target.lake_uri, lake_schema(target.contract), target.storage_options),
        attempts=1,
    )
