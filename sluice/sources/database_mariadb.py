"""MariaDB rows as Arrow: PyMySQL's unbuffered cursor read ``fetch_rows`` at a time, each column typed by its kind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sluice.sources.database_types import Kind, SourceColumn

if TYPE_CHECKING:
    from sluice.sources.database_read import TableSpec


_MARIADB_ARROW = {
    Kind.INTEGER: pa.int64(),
    Kind.BOOLEAN_INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.DECIMAL: pa.string(),
    Kind.TEXT: pa.string(),
    Kind.DATE: pa.date32(),
    Kind.TIMESTAMP_NAIVE: pa.timestamp("us"),
    Kind.TIMESTAMP_TZ: pa.timestamp("us", tz="UTC"),
}


def _arrow_column(values: list[Any], kind: Kind) -> pa.Array:
    """A column of driver values; one that does not fit its type (a zero date) goes as text to validation."""
    kind_type = _MARIADB_ARROW.get(kind, pa.string())
    if kind is Kind.DECIMAL:
        values = [None if v is None else str(v) for v in values]
    try:
        return pa.array(values, kind_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def mariadb_rows_to_arrow(rows: list[tuple[Any, ...]], spec: TableSpec, columns: dict[str, SourceColumn]) -> pa.Table:
    names = spec.read_columns
    data = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table({n: _arrow_column(list(vals), columns[n].kind) for n, vals in zip(names, data, strict=True)})


def fetch_mariadb(
    cur: Any, spec: TableSpec, columns: dict[str, SourceColumn], sql: str, params: tuple[Any, ...] = ()
) -> Iterator[pa.Table]:
    """Stream one statement's rows on an open unbuffered cursor, ``fetch_rows`` at a time."""
    cur.execute(sql, params)
    while rows := cur.fetchmany(spec.fetch_rows):
        yield mariadb_rows_to_arrow(list(rows), spec, columns)
