"""A whole table's profile: one :class:`ColumnState` per column, fed record batch by record batch.

Memory stays flat however many rows pass: per column a 4 KiB distinct
sketch, a sample of at most 8,192 numbers and at most 64 code counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from sluice.profile.column import ColumnProfile, ColumnState


@dataclass(frozen=True)
class TableProfile:
    rows: int
    columns: list[ColumnProfile]

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def schema(self) -> dict[str, str]:
        """Each column's Arrow type, by name."""
        return {c.name: c.type for c in self.columns}


@dataclass
class TableState:
    """Mergeable per-column state; a column first met in a later batch counts the earlier rows as null."""

    rows: int = 0
    columns: dict[str, ColumnState] = field(default_factory=dict)

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        for column in batch.schema:
            state = self.columns.get(column.name)
            if state is None:
                state = self.columns[column.name] = ColumnState.for_field(column)
                state.rows = state.nulls = self.rows
            state.update(batch.column(column.name))
        for name, state in self.columns.items():
            if name not in batch.schema.names:
                state.rows += batch.num_rows
                state.nulls += batch.num_rows
        self.rows += batch.num_rows

    def merge(self, other: TableState) -> TableState:
        merged = TableState(self.rows + other.rows)
        for name in [*self.columns, *(n for n in other.columns if n not in self.columns)]:
            mine, theirs = self.columns.get(name), other.columns.get(name)
            if mine is None and theirs is not None:
                mine = _all_null(theirs, self.rows)
            elif theirs is None and mine is not None:
                theirs = _all_null(mine, other.rows)
            if mine is not None and theirs is not None:
                merged.columns[name] = mine.merge(theirs)
        return merged

    def finish(self) -> TableProfile:
        return TableProfile(self.rows, [state.finish() for state in self.columns.values()])


def _all_null(like: ColumnState, rows: int) -> ColumnState:
    return ColumnState(like.name, like.type, like.kind, rows, rows)


def profile_batches(batches: Iterable[pa.RecordBatch | pa.Table]) -> TableProfile:
    """The profile of every row of ``batches``, one batch in memory at a time."""
    state = TableState()
    for batch in batches:
        state.update(batch)
    return state.finish()
