"""Compaction and Z-ordering of a dataset's table, then a checkpoint: fewer, larger files with the same rows.

Many small runs leave many small files in each date partition; a query
then opens them all. :func:`optimize_table` rewrites each crowded partition
into files of about ``target_size`` bytes (delta-rs ``optimize.compact``) or,
with Z-order columns, clusters the rows of each crowded partition on those
columns (``optimize.z_order``) so a filter on them skips whole files by
their min/max. A partition already held in one file is left alone. The rows
never change: the new version removes the old files and adds the new ones
in one commit, and the old files stay readable (time travel, running
readers) until a vacuum past the retention removes them.

A checkpoint is written after a rewrite, so readers load the log from it
instead of replaying every JSON commit.

Concurrency: :func:`optimize_dataset` holds the dataset's commit lease
(:mod:`sluice.lake.lease`) like ingestion, retention and erasure do, so
writers take turns with it and an ingestion never loses its commit to it.
A writer outside the lease is still safe: ingestion commits only at the
version its plan read (:mod:`sluice.lake.commit`) and re-plans when the
optimize got there first; an optimize whose files a concurrent commit
removed fails delta-rs's conflict check, nothing of it is visible, and it
is tried again on the new version.
"""

from __future__ import annotations

import difflib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError

from sluice.errors import LakeConflictError, LakeError
from sluice.lake.stats import add_actions, files_per_partition
from sluice.lake.table import META_PREFIX, open_table
from sluice.validate.chunk import PARTITION

log = logging.getLogger(__name__)

MIB = 1024 * 1024
ATTEMPTS = 3


@dataclass(frozen=True)
class Layout:
    """A table's current files: how many, their bytes, and how many each date partition holds."""

    version: int
    files: int
    bytes: int
    per_partition: dict[str, int]

    def crowded(self, *, every: bool = False) -> list[str]:
        """Partitions with more than one file (the ones compaction changes); ``every``: all partitions."""
        return sorted(day for day, count in self.per_partition.items() if count > 1 or (every and count))


@dataclass(frozen=True)
class OptimizeResult:
    """What one optimize did to a table: files and bytes before and after, versions, partitions, time."""

    table: str
    zorder: list[str]
    target_size: int
    version_before: int
    version_after: int
    files_before: int
    files_after: int
    bytes_before: int
    bytes_after: int
    partitions_touched: list[str]
    files_removed: int
    files_added: int
    checkpointed: bool
    attempts: int
    seconds: float
    lease_token: int | None = None

    @property
    def changed(self) -> bool:
        return self.version_after != self.version_before

    @property
    def summary(self) -> str:
        how = f"Z-ordered on {', '.join(self.zorder)}" if self.zorder else "compacted"
        if not self.changed:
            return f"nothing to rewrite: {self.files_before} file(s), none of them worth merging"
        return (
            f"{how} {len(self.partitions_touched)} partition(s): {self.files_before} -> {self.files_after} file(s), "
            f"version {self.version_before} -> {self.version_after}"
        )


def layout(uri: str, storage_options: dict[str, str] | None = None) -> Layout:
    """The current files of the table at ``uri``, from its log.

    Raises:
        LakeError: no table at ``uri``.
    """
    version, actions = add_actions(uri, storage_options)
    size = sum(actions.column("size_bytes").to_pylist()) if actions.num_rows else 0
    return Layout(version, actions.num_rows, int(size), dict(files_per_partition(actions)))


def zorder_problem(table: DeltaTable, columns: list[str]) -> str | None:
    """Why ``columns`` cannot Z-order ``table`` (a column it lacks, or its partition column); ``None`` if they can."""
    names = table.schema().to_arrow().names
    partitions = set(table.metadata().partition_columns)
    for name in columns:
        if name in partitions:
            return f"{name!r} is the table's partition column: each file already holds one {name}"
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            return f"the table has no column {name!r}{guess} (its columns: {', '.join(names)})"
    if len(set(columns)) != len(columns):
        return f"a column is named twice in {', '.join(columns)}"
    return None


def ensure_zorder_columns(table: DeltaTable, columns: list[str]) -> None:
    """Raise :class:`LakeError` unless every one of ``columns`` can Z-order ``table``."""
    if (problem := zorder_problem(table, columns)) is not None:
        raise LakeError(
            f"cannot Z-order {table.table_uri}: {problem}",
            hint="fix the contract's maintenance.zorder, or pass --zorder with columns of the table",
        )


def _properties(metadata: dict[str, object]) -> CommitProperties:
    return CommitProperties(
        custom_metadata={f"{META_PREFIX}{k}": v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    )


def _rewrite(
    table: DeltaTable, zorder: list[str], target_size: int, days: list[str], meta: dict[str, object]
) -> dict[str, object]:
    """One optimize commit over ``days`` (every crowded partition), compaction or Z-order; delta-rs's metrics."""
    filters = [(PARTITION, "in", days)] if PARTITION in table.metadata().partition_columns else None
    props = _properties({**meta, "stage": "zorder" if zorder else "compact"})
    if zorder:
        return table.optimize.z_order(
            zorder, partition_filters=filters, target_size=target_size, commit_properties=props
        )
    return table.optimize.compact(partition_filters=filters, target_size=target_size, commit_properties=props)


@dataclass(frozen=True)
class _Rewrite:
    before: Layout
    attempts: int
    version: int | None = None  # the optimize commit's version; None: nothing was rewritten
    removed: int = 0
    added: int = 0


def _existing(uri: str, storage_options: dict[str, str] | None) -> DeltaTable:
    table = open_table(uri, storage_options)
    if table is None:
        raise LakeError(f"no Delta table at {uri}", hint="run an ingestion first, or check SLUICE_LAKE_URI")
    return table


def _attempt_rewrite(
    uri: str,
    zorder: list[str],
    target_size: int,
    storage_options: dict[str, str] | None,
    metadata: dict[str, object],
    before_commit: Callable[[], None],
    attempts: int,
    every: bool = False,
) -> _Rewrite:
    """Rewrite the crowded partitions, re-reading the table after a conflict."""
    for attempt in range(1, attempts + 1):
        table = _existing(uri, storage_options)
        ensure_zorder_columns(table, zorder)
        before = layout(uri, storage_options)
        days = before.crowded(every=every and bool(zorder))
        if not days:
            return _Rewrite(before, attempt)
        before_commit()
        try:
            metrics = _rewrite(table, zorder, target_size, days, {**metadata, "attempt": attempt})
        except CommitFailedError as exc:
            log.warning("%s: optimize attempt %d of %d lost to a concurrent commit (%s)", uri, attempt, attempts, exc)
            continue
        except DeltaError as exc:
            raise LakeError(f"cannot optimize {uri}: {exc}", hint="`ops lake stats` shows the table's files") from None
        removed, added = int(str(metrics["numFilesRemoved"])), int(str(metrics["numFilesAdded"]))
        return _Rewrite(before, attempt, table.version() if removed or added else None, removed, added)
    raise LakeConflictError(
        f"{uri}: other writers changed the optimized files first on all {attempts} attempts",
        hint="nothing of the optimize is visible; check that every writer of the table holds the dataset's lease",
    )


def optimize_table(
    uri: str,
    *,
    zorder: list[str] | None = None,
    target_size: int = 128 * MIB,
    storage_options: dict[str, str] | None = None,
    metadata: dict[str, object] | None = None,
    before_commit: Callable[[], None] = lambda: None,
    attempts: int = ATTEMPTS,
    every_partition: bool = False,
) -> OptimizeResult:
    """Compact (or Z-order on ``zorder``) every partition of ``uri`` holding more than one file, then checkpoint.

    ``before_commit`` runs before each rewrite (a lease check); ``metadata``
    goes into the commit under ``sluice.``. With ``every_partition``, a
    Z-order rewrites partitions held in one file too (a table compacted
    before it had Z-order columns).

    Raises:
        LakeError: no table at ``uri``, a Z-order column the table lacks (or its partition column).
        LakeConflictError: concurrent commits removed the files being rewritten on every attempt.
    """
    columns = list(zorder or [])
    clock = time.perf_counter()
    done = _attempt_rewrite(
        uri, columns, target_size, storage_options, metadata or {}, before_commit, attempts, every_partition
    )
    if done.version is not None:
        _existing(uri, storage_options).create_checkpoint()
    after = layout(uri, storage_options)
    before = done.before
    return OptimizeResult(
        table=uri,
        zorder=columns,
        target_size=target_size,
        version_before=before.version,
        version_after=done.version if done.version is not None else before.version,
        files_before=before.files,
        files_after=after.files,
        bytes_before=before.bytes,
        bytes_after=after.bytes,
        partitions_touched=before.crowded(every=every_partition and bool(columns)) if done.version is not None else [],
        files_removed=done.removed,
        files_added=done.added,
        checkpointed=done.version is not None,
        attempts=done.attempts,
        seconds=time.perf_counter() - clock,
    )
