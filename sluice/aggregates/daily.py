"""Daily aggregates of orders, and which days a range of table versions changed.

One row per day (the table's ``dt`` partition) and currency: the number of
orders, of distinct customers, the quantity and the amount. A day's row is a
function of that day's rows alone, so a day can be recomputed on its own; a
day whose orders are all gone has no row.

The days a change touched come from the Delta log, not from the data: every
data file one version holds and the other does not (added by an append, a
merge or a restore; removed by a delete, a merge's rewrite or a restore)
names its partition. An order moved to another day by an upsert rewrites the
file of its old day and adds one in its new day, so both days are touched.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from sluice.validate.chunk import PARTITION
from sluice.validate.contracts import DELETE_OP, OP_COLUMN, SCD2_COLUMNS

KEY = [PARTITION, "currency"]
AGGREGATE_SCHEMA = pa.schema(
    [
        pa.field(PARTITION, pa.date32(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("orders", pa.int64(), nullable=False),
        pa.field("customers", pa.int64(), nullable=False),
        pa.field("quantity", pa.int64(), nullable=False),
        pa.field("amount", pa.float64(), nullable=False),
    ]
)
SOURCE_COLUMNS = [PARTITION, "currency", "order_id", "customer_id", "quantity", "amount"]


def current_rows(rows: pa.Table) -> pa.Table:
    """The rows that hold a key's current version: no delete tombstones, no closed SCD2 versions."""
    if OP_COLUMN in rows.column_names:
        rows = rows.filter(pc.fill_null(pc.not_equal(rows.column(OP_COLUMN), DELETE_OP), True))
    is_current = SCD2_COLUMNS[2]
    if is_current in rows.column_names:
        rows = rows.filter(pc.fill_null(rows.column(is_current), False))
    return rows


def _as_utf8(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column


def aggregate_days(rows: pa.Table) -> pa.Table:
    """The aggregate rows of every (day, currency) in ``rows`` (orders with a null day or currency are left out)."""
    rows = current_rows(rows)
    keep = pc.and_(pc.is_valid(rows.column(PARTITION)), pc.is_valid(rows.column("currency")))
    rows = rows.filter(keep)
    frame = pa.table(
        {
            PARTITION: rows.column(PARTITION).cast(pa.date32()),
            "currency": _as_utf8(rows.column("currency")),
            "order_id": rows.column("order_id"),
            "customer_id": _as_utf8(rows.column("customer_id")),
            "quantity": rows.column("quantity").cast(pa.int64()),
            "amount": rows.column("amount").cast(pa.float64()),
        }
    )
    grouped = frame.group_by(KEY, use_threads=False).aggregate(
        [
            ("order_id", "count", pc.CountOptions(mode="all")),
            ("customer_id", "count_distinct", pc.CountOptions(mode="only_valid")),
            ("quantity", "sum", pc.ScalarAggregateOptions(min_count=0)),
            ("amount", "sum", pc.ScalarAggregateOptions(min_count=0)),
        ]
    )
    result = pa.table(
        {
            PARTITION: grouped.column(PARTITION),
            "currency": grouped.column("currency"),
            "orders": grouped.column("order_id_count"),
            "customers": grouped.column("customer_id_count_distinct"),
            "quantity": pc.fill_null(grouped.column("quantity_sum"), 0),
            "amount": pc.fill_null(grouped.column("amount_sum"), 0.0),
        }
    )
    return result.cast(AGGREGATE_SCHEMA).sort_by([(PARTITION, "ascending"), ("currency", "ascending")])


def _files(table: DeltaTable) -> dict[str, date]:
    actions = pa.table(table.get_add_actions(flatten=True))
    column = f"partition.{PARTITION}"
    days = actions.column(column).cast(pa.date32()).to_pylist() if column in actions.column_names else []
    return dict(zip(actions.column("path").to_pylist(), days, strict=True))


def changed_days(uri: str, since: int, until: int, storage_options: dict[str, str] | None = None) -> set[date] | None:
    """The days whose files differ between versions ``since`` and ``until`` of the table at ``uri``.

    ``None`` when version ``since`` cannot be loaded (its log was cleaned up)
    or lies after ``until`` (the table was recreated): the caller recomputes
    every day.
    """
    if since > until:
        return None
    try:
        before = _files(DeltaTable(uri, version=since, storage_options=storage_options or None))
    except (DeltaError, OSError):
        return None
    after = _files(DeltaTable(uri, version=until, storage_options=storage_options or None))
    touched = before.keys() ^ after.keys()
    return {day for path in touched for day in [before.get(path) or after.get(path)] if day is not None}


def read_days(table: DeltaTable, days: set[date] | None) -> pa.Table:
    """The columns the aggregates need of ``table``'s rows of ``days`` (every day when ``None``)."""
    names = {f.name for f in table.schema().fields}
    extra = [c for c in (OP_COLUMN, SCD2_COLUMNS[2]) if c in names]
    # An empty set reads no day: an "in" of nothing is refused, and no partition has this date.
    wanted = sorted(d.isoformat() for d in days) if days else ["0001-01-01"]
    filters = [(PARTITION, "in", wanted)] if days is not None else None
    return table.to_pyarrow_table(columns=SOURCE_COLUMNS + extra, filters=filters)
