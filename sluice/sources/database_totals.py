"""Control totals of a database read: a key range's ``count(*)`` (and a column's sum) in the readers' snapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sluice.runs.completeness import ControlTotals

if TYPE_CHECKING:
    from sluice.sources.database_read import KeyRange, TableSpec


def range_totals(spec: TableSpec, conn: Any, rng: KeyRange) -> ControlTotals:
    """``count(*)`` (and the contract's ``completeness.sum``) of a key range, in ``conn``'s transaction: the snapshot
    every reader shares, so the source's totals and the rows read are of the same rows."""
    column = spec.contract.completeness.sum
    total = f", sum({spec.q(column)})" if column is not None else ""
    row = conn.execute(f"SELECT count(*){total} FROM {spec.relation()} WHERE {rng.predicate(spec)}").fetchone()
    sums = {column: float(row[1] or 0)} if column is not None else {}
    return ControlTotals(rows=int(row[0]), sums=sums, origin="count(*) in the read's snapshot")
