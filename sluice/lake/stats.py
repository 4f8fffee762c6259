"""A table's statistics from its Delta log: rows, files, bytes, and each column's min, max and nulls.

Every data file's ``add`` action carries the file's row count and, per
column, its min, max and null count (delta-rs writes them; other writers
may not). The table's figures are those of its current files, read from the
log alone: no data file is opened. A column some file has no statistics for
is reported with ``complete=False``: its min and max are those of the files
that have them, and its null count is unknown.
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from deltalake.exceptions import DeltaError

from sluice.errors import LakeError
from sluice.lake.table import open_table
from sluice.validate.chunk import PARTITION

_PARTITION_PREFIX = "partition."


@dataclass(frozen=True)
class ColumnStats:
    """One column over every current file; ``min``/``max`` as text (``None``: no non-null value in the stats)."""

    name: str
    min: str | None
    max: str | None
    nulls: int | None
    complete: bool


@dataclass(frozen=True)
class TableStats:
    """A table's current version: its size, files per date partition, and its columns' statistics."""

    table: str
    version: int
    rows: int | None
    files: int
    bytes: int
    partitions: int
    largest_partition_files: int
    columns: list[ColumnStats]

    @property
    def mean_file_bytes(self) -> int:
        return self.bytes // self.files if self.files else 0


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value)


def _sum(column: pa.ChunkedArray | pa.Array) -> int | None:
    """The sum of a count column, or ``None`` when some file does not record it."""
    if column.null_count:
        return None
    return int(pc.sum(column).as_py() or 0)


def _column(actions: pa.Table, name: str) -> ColumnStats:
    nulls = actions.column(f"null_count.{name}") if f"null_count.{name}" in actions.column_names else None
    found: dict[str, str | None] = {}
    for bound in ("min", "max"):
        field = f"{bound}.{name}"
        if field not in actions.column_names:
            found[bound] = None
            continue
        values = actions.column(field)
        try:
            extreme = pc.min_max(values)[bound].as_py()
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # a type without an order (struct stats)
            extreme = None
        found[bound] = _text(extreme)
    complete = nulls is not None and nulls.null_count == 0
    return ColumnStats(name, found["min"], found["max"], _sum(nulls) if nulls is not None else None, complete)


def _stat_columns(actions: pa.Table) -> list[str]:
    """Column names with statistics, in the log's order (nested ones as ``parent.child``)."""
    names: dict[str, None] = {}
    for field in actions.column_names:
        for prefix in ("null_count.", "min.", "max."):
            if field.startswith(prefix):
                names[field.removeprefix(prefix)] = None
    return list(names)


def add_actions(uri: str, storage_options: dict[str, str] | None = None) -> tuple[int, pa.Table]:
    """The table's version and one row per current data file: path, size, records and flattened statistics.

    Raises:
        LakeError: no table at ``uri``, or its log cannot be read.
    """
    table = open_table(uri, storage_options)
    if table is None:
        raise LakeError(f"no Delta table at {uri}", hint="run an ingestion first, or check SLUICE_LAKE_URI")
    try:
        return table.version(), pa.table(table.get_add_actions(flatten=True))
    except (DeltaError, OSError, ValueError) as exc:
        raise LakeError(
            f"cannot read the file statistics of {uri}: {exc}", hint="`ops lake history` shows the commits"
        ) from None


def files_per_partition(actions: pa.Table) -> Counter[str]:
    """How many current files each date partition holds (``""`` for an unpartitioned table)."""
    field = f"{_PARTITION_PREFIX}{PARTITION}"
    if field not in actions.column_names:
        return Counter({"": actions.num_rows}) if actions.num_rows else Counter()
    return Counter(_text(v) or "" for v in actions.column(field).to_pylist())


def table_stats(uri: str, storage_options: dict[str, str] | None = None) -> TableStats:
    """Statistics of the table at ``uri``'s current version, from its log alone.

    Raises:
        LakeError: no table at ``uri``, or its log cannot be read.
    """
    version, actions = add_actions(uri, storage_options)
    per_partition = files_per_partition(actions)
    return TableStats(
        table=uri,
        version=version,
        rows=_sum(actions.column("num_records")) if "num_records" in actions.column_names else None,
        files=actions.num_rows,
        bytes=int(pc.sum(actions.column("size_bytes")).as_py() or 0),
        partitions=len(per_partition),
        largest_partition_files=max(per_partition.values(), default=0),
        columns=[_column(actions, name) for name in _stat_columns(actions)],
    )
