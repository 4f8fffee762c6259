"""The keys a table holds on a few dates, kept across a consumer's commits and read incrementally.

A stream commits a micro-batch every few seconds, and each batch's rows of
dates the table already holds are anti-joined against the keys the table
holds on those dates (:func:`sluice.lake.write.commit_deduped`). Reading
those keys afresh for every batch costs more with every batch the day
grows by. :class:`LakeKeys` keeps them per date, per data file: a Delta
data file never changes once written, so at each version only the files
added since are read (their key columns only), and a date whose files were
removed (compaction, a delete, a restore) is read again. Concurrent writers'
files are files added since, like any other.

Memory is bounded: at most ``max_days`` dates are kept (the least recently
used goes), and a date holding more than ``max_rows`` keys is not kept (its
keys are read for each batch, as without the index). A table with deletion
vectors is never indexed: a file's rows are then not all live.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

from sluice.lake.table import lake_filesystem
from sluice.validate.chunk import PARTITION

MAX_DAYS = 4
MAX_ROWS = 20_000_000


@dataclass
class _Day:
    files: dict[str, pa.Table] = field(default_factory=dict)  # data file path -> its key columns
    rows: int = 0


class LakeKeys:
    """The key columns (and date) of a Delta table's rows on the dates asked for (see the module doc)."""

    def __init__(
        self,
        uri: str,
        storage_options: dict[str, str] | None = None,
        *,
        max_days: int = MAX_DAYS,
        max_rows: int = MAX_ROWS,
    ) -> None:
        self._fs, self._root = lake_filesystem(uri, storage_options)
        self.max_days, self.max_rows = max_days, max_rows
        self._days: OrderedDict[str, _Day] = OrderedDict()
        self.files_read = 0  # data files whose keys were read, over the index's life

    def on(self, table: DeltaTable, keys: list[str], days: list[str], like: pa.Schema) -> pa.Table | None:
        """The rows' ``keys`` and date on ``days`` at ``table``'s version, typed like ``like``.

        ``None``: the table has deletion vectors, and the caller reads the keys through the table.
        """
        files = _files_by_day(table)
        if files is None:
            self._days.clear()
            return None
        names = [*keys, PARTITION]
        schema = pa.schema([like.field(n) for n in names])
        parts = [self._keys_on(day, files.get(day, []), keys, schema) for day in days]
        return pa.concat_tables(parts) if parts else schema.empty_table()

    def _keys_on(self, day: str, paths: list[str], keys: list[str], schema: pa.Schema) -> pa.Table:
        held = self._days.pop(day, None)
        if held is None or not set(held.files) <= set(paths):
            held = _Day()  # first use, or files removed since: read the date again
        for path in paths:
            if path not in held.files:
                found = pq.read_table(f"{self._root}/{path}", columns=keys, filesystem=self._fs)
                held.files[path] = found.select(keys).cast(pa.schema([schema.field(k) for k in keys]))
                held.rows += found.num_rows
                self.files_read += 1
        found = pa.concat_tables(list(held.files.values())) if held.files else schema.empty_table().select(keys)
        if held.rows <= self.max_rows:
            self._days[day] = held
            while len(self._days) > self.max_days:
                self._days.popitem(last=False)
        date = pa.repeat(pa.scalar(day, pa.string()), found.num_rows).cast(schema.field(PARTITION).type)
        return found.append_column(schema.field(PARTITION), date)


def _files_by_day(table: DeltaTable) -> dict[str, list[str]] | None:
    """The table's data files by partition date at its version; ``None`` when any has a deletion vector."""
    actions = pa.table(table.get_add_actions(flatten=True))
    vectors = [c for c in actions.column_names if c.startswith("deletion_vector")]
    if any(actions.column(c).null_count < actions.num_rows for c in vectors):
        return None
    if not actions.num_rows:
        return {}
    paths = actions.column("path").to_pylist()
    dates = pc.cast(actions.column(f"partition.{PARTITION}"), pa.string()).to_pylist()
    out: dict[str, list[str]] = {}
    for path, day in zip(paths, dates, strict=True):
        out.setdefault(str(day), []).append(str(path))
    return out
