"""Control totals of a database read: ``count(*)`` (and a column's sum) of the rows it reads, in its snapshot.

A snapshot read counts each key range; an incremental read counts its
cursor interval (:mod:`sluice.sources.database_keyset`). PostgreSQL: the
coordinator counts in the snapshot it exports to the readers. MariaDB: a
consistent snapshot belongs to one connection, so the reader counts on its
own connection, inside its ``START TRANSACTION WITH CONSISTENT SNAPSHOT``,
right before it reads the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sluice.runs.completeness import ControlTotals

if TYPE_CHECKING:
    from sluice.sources.database_read import KeyRange, TableSpec

ORIGIN = "count(*) in the read's snapshot"


def _totals_sql(spec: TableSpec, where: str) -> str:
    column = spec.contract.completeness.sum
    total = f", sum({spec.q(column)})" if column is not None else ""
    return f"SELECT count(*){total} FROM {spec.relation()} WHERE {where}"


def _totals(spec: TableSpec, row: tuple[Any, ...]) -> ControlTotals:
    column = spec.contract.completeness.sum
    sums = {column: float(row[1] or 0)} if column is not None else {}
    return ControlTotals(rows=int(row[0]), sums=sums, origin=ORIGIN)


def where_totals(spec: TableSpec, conn: Any, where: str) -> ControlTotals:
    """``count(*)`` (and the contract's ``completeness.sum``) of the rows matching ``where``, in ``conn``'s
    (psycopg) transaction: the snapshot every reader shares, so the source's totals and the rows read are of the
    same rows."""
    return _totals(spec, conn.execute(_totals_sql(spec, where)).fetchone())


def range_totals(spec: TableSpec, conn: Any, rng: KeyRange) -> ControlTotals:
    """The totals of a key range in ``conn``'s transaction (:func:`where_totals`)."""
    return where_totals(spec, conn, rng.predicate(spec))


def cursor_totals(spec: TableSpec, cur: Any, where: str) -> ControlTotals:
    """The same totals on a DB-API cursor (PyMySQL) inside the transaction that then reads the rows."""
    cur.execute(_totals_sql(spec, where))
    row = cur.fetchone()
    while cur.fetchone() is not None:  # an unbuffered cursor must be drained before its next statement
        pass
    return _totals(spec, row)
