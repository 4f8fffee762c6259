"""Reading the quarantine: the one Delta table of rows that failed validation.

The table lives at ``Settings.quarantine_root()`` and is partitioned by
``dataset`` and ``dt`` (the ingest date); :data:`sluice.validate.chunk.QUARANTINE_SCHEMA`
lists its columns. Queries prune files by partition first, then filter rows
with pyarrow, so asking about one dataset never reads the others.

Entries keep the original raw values of the row (``record``), which can hold
personal data: :func:`mask_pii` hides the columns a contract marks ``pii``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from sluice.errors import LakeError, SluiceError
from sluice.lake.table import lake_dataset, open_table
from sluice.paths import ensure_dataset_name
from sluice.validate.contracts import find_contract

if TYPE_CHECKING:
    from deltalake import DeltaTable

MASK = "***"
RAW_LINE_KEY = "_raw"
"""The ``record`` key under which a row that could not be split keeps its whole source line."""

_ORDER = [
    ("quarantined_at", "descending"),
    ("dataset", "ascending"),
    ("source_file", "ascending"),
    ("source_row", "ascending"),
]


@dataclass(frozen=True)
class QuarantineQuery:
    """Which entries to read; ``None`` fields do not filter.

    ``source_file`` matches as a substring, so a file name picks its full URI.
    ``since`` keeps entries ingested on or after that date (the ``dt`` partition).

    Raises:
        ConfigError: ``dataset`` is not a valid dataset name.
    """

    dataset: str | None = None
    run_id: str | None = None
    reason: str | None = None
    since: date | None = None
    source_file: str | None = None
    source_row: int | None = None
    batch_ids: tuple[str, ...] | None = None  # only entries of these batches

    def __post_init__(self) -> None:
        if self.dataset is not None:
            ensure_dataset_name(self.dataset)


@dataclass(frozen=True)
class QuarantineEntry:
    """One quarantined row: where it came from, why, and its original values."""

    dataset: str
    dt: date
    run_id: str
    batch_id: str
    source_file: str
    source_row: int
    reason: str
    check: str
    column: str | None
    value: str | None
    failures: str
    record: dict[str, str | None] = field(default_factory=dict)
    quarantined_at: datetime | None = None
    row_id: str = ""  # ``<batch_id>:<source_row>``, what release, discard and the replay ledger name a row by

    def __post_init__(self) -> None:
        if not self.row_id:
            object.__setattr__(self, "row_id", f"{self.batch_id}:{self.source_row}")


@dataclass(frozen=True)
class ReasonCount:
    """How many entries share a dataset, reason and column."""

    dataset: str
    reason: str
    column: str | None
    rows: int


def open_quarantine(uri: str, storage_options: dict[str, str] | None = None) -> DeltaTable | None:
    """The quarantine table at ``uri``, or ``None`` when no run has quarantined anything yet.

    Raises:
        LakeError: the location exists but cannot be read.
    """
    return open_table(uri, storage_options)


def _pruning(query: QuarantineQuery) -> list[tuple[str, str, str]] | None:
    filters = []
    if query.dataset:
        filters.append(("dataset", "=", query.dataset))
    if query.since:
        filters.append(("dt", ">=", query.since.isoformat()))
    return filters or None


def _row_filter(query: QuarantineQuery) -> ds.Expression | None:
    parts: list[ds.Expression] = []
    if query.dataset:
        parts.append(ds.field("dataset") == query.dataset)
    if query.since:
        parts.append(ds.field("dt") >= pa.scalar(query.since, pa.date32()))
    if query.run_id:
        parts.append(ds.field("run_id") == query.run_id)
    if query.reason:
        parts.append(ds.field("reason") == query.reason)
    if query.source_file:
        parts.append(pc.match_substring(ds.field("source_file"), query.source_file))
    if query.source_row is not None:
        parts.append(ds.field("source_row") == query.source_row)
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part
    return combined


def _scan(table: DeltaTable, query: QuarantineQuery, columns: list[str] | None = None) -> pa.Table:
    """The entries matching ``query``: files pruned by partition, rows filtered here, in memory.

    Row filters are not pushed down to the files: delta-rs reads a column that a file's stats name without
    bounds as bounded by null and skips that file whatever it holds, and quarantine files with such stats
    (long run and batch ids, cut to a prefix with no maximum) may be in any table already.
    """
    dataset = lake_dataset(table, file_pruning_predicate=_pruning(query))
    row_filter = _row_filter(query)
    wanted = None if columns is None else list(dict.fromkeys([*columns, *_FILTER_COLUMNS]))
    rows = dataset.to_table(columns=wanted)
    if row_filter is not None:
        rows = rows.filter(row_filter)
    if query.batch_ids is not None:
        rows = rows.filter(pc.is_in(rows.column("batch_id"), pa.array(list(query.batch_ids), pa.string())))
    return rows.select(columns) if columns is not None else rows


_FILTER_COLUMNS = ("dataset", "dt", "run_id", "reason", "source_file", "source_row", "batch_id")


def _entry(row: dict[str, Any]) -> QuarantineEntry:
    """An entry from one row of the table; arrow hands a map column over as (key, value) pairs."""
    pairs = row.pop("record") or []
    return QuarantineEntry(**row, record=dict(pairs))


def list_entries(
    table: DeltaTable, query: QuarantineQuery | None = None, *, limit: int | None = 50
) -> list[QuarantineEntry]:
    """Entries matching ``query``, newest first, at most ``limit`` (``None``: all).

    Example:
        >>> table = open_quarantine(settings.quarantine_root())
        >>> list_entries(table, QuarantineQuery(dataset="orders", reason="out_of_range"), limit=10)
    """
    rows = _scan(table, query or QuarantineQuery())
    if rows.num_rows == 0:
        return []
    rows = rows.sort_by(_ORDER)
    if limit is not None:
        rows = rows.slice(0, limit)
    return [_entry(r) for r in rows.to_pylist()]


def count_by_reason(table: DeltaTable, query: QuarantineQuery | None = None) -> list[ReasonCount]:
    """Entry counts grouped by dataset, reason and column, largest first."""
    rows = _scan(table, query or QuarantineQuery(), columns=["dataset", "reason", "column"])
    if rows.num_rows == 0:
        return []
    grouped = rows.group_by(["dataset", "reason", "column"], use_threads=False).aggregate([([], "count_all")])
    counts = [ReasonCount(r["dataset"], r["reason"], r["column"], int(r["count_all"])) for r in grouped.to_pylist()]
    return sorted(counts, key=lambda c: (-c.rows, c.dataset, c.reason, c.column or ""))


def pii_columns(dataset: str, contracts_root: Path) -> frozenset[str] | None:
    """The columns ``dataset``'s contract marks ``pii``; ``None`` when the contract cannot be loaded.

    ``None`` means "unknown", and :func:`mask_pii` then masks every value (also
    for entries whose dataset is not a valid name, left by older versions).
    """
    try:
        return frozenset(find_contract(dataset, contracts_root).pii_columns)
    except SluiceError:
        return None


def mask_pii(entry: QuarantineEntry, pii: Collection[str] | None) -> QuarantineEntry:
    """``entry`` with the values of ``pii`` columns replaced by :data:`MASK`.

    With ``pii=None`` (contract unknown) every value is masked. The whole source
    line of an unsplittable row is masked when the dataset has any PII column.
    """

    def hide(column: str | None) -> bool:
        if pii is None:
            return True
        return bool(column) and (column in pii or (column == RAW_LINE_KEY and bool(pii)))

    record = {k: (MASK if v is not None and hide(k) else v) for k, v in entry.record.items()}
    value = MASK if entry.value is not None and hide(entry.column) else entry.value
    return dataclasses.replace(entry, record=record, value=value)


def purge_before(uri: str, cutoff: date, storage_options: dict[str, str] | None = None, *, attempts: int = 5) -> int:
    """Delete the quarantine entries ingested before ``cutoff`` (the ``dt`` partition); returns how many.

    Writers that quarantine rows meanwhile may commit first: the delete is
    planned again on the new version, so their entries stay and the old ones
    still go. The deleted entries' files stay reachable by time travel until
    the lake-maintenance flow vacuums them.

    Raises:
        LakeError: the quarantine cannot be read or written, or every attempt lost to a concurrent commit.
    """
    from deltalake.exceptions import CommitFailedError, DeltaError

    from sluice.lake.write import conflict_error

    for _attempt in range(attempts):
        table = open_quarantine(uri, storage_options)
        if table is None:
            return 0
        try:
            metrics = table.delete(f"dt < '{cutoff.isoformat()}'")
        except CommitFailedError:
            continue
        except (DeltaError, OSError) as exc:
            raise LakeError(f"cannot purge the quarantine at {uri}: {exc}", hint="check the path") from None
        return int(metrics.get("num_deleted_rows", 0) or 0)
    raise conflict_error(uri)
