"""Factories for test data: small files whose every row's fate is known up front."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

ORDER_HEADER = [
    "order_id",
    "customer_id",
    "order_ts",
    "status",
    "amount",
    "currency",
    "quantity",
    "discount",
    "channel",
    "country",
    "email",
    "updated_at",
]


@dataclass
class OrderRow:
    order_id: str = "1"
    customer_id: str = "C000001"
    order_ts: str = "2024-03-05T10:00:00Z"
    status: str = "paid"
    amount: str = "19.99"
    currency: str = "EUR"
    quantity: str = "1"
    discount: str = ""
    channel: str = "web"
    country: str = "DE"
    email: str = "ann@example.com"
    updated_at: str = ""

    def cells(self) -> list[str]:
        return [getattr(self, name) for name in ORDER_HEADER]


@dataclass
class OrderBatch:
    """Rows plus the ground truth of what must happen to them."""

    rows: list[OrderRow] = field(default_factory=list)
    bad: int = 0
    duplicates: int = 0
    raw_lines: list[tuple[int, str]] = field(default_factory=list)  # (position, line) of malformed lines

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.raw_lines)

    @property
    def unique_valid(self) -> int:
        return self.total - self.bad - self.duplicates


def good_orders(n: int, *, start: int = 1, day: str = "2024-03-05") -> list[OrderRow]:
    return [
        OrderRow(
            order_id=str(i),
            customer_id=f"C{i % 1_000_000:06d}",
            order_ts=f"{day}T{i % 24:02d}:00:00Z",
            amount=f"{(i % 500) + 0.5:.2f}",
            quantity=str((i % 9) + 1),
        )
        for i in range(start, start + n)
    ]


def mixed_orders(n_good: int = 20, *, start: int = 1) -> OrderBatch:
    """Good rows, one of each kind of critical failure, a warning-only row and duplicates."""
    batch = OrderBatch(rows=good_orders(n_good, start=start))
    nxt = start + n_good
    bad = [
        OrderRow(order_id=str(nxt), order_ts="not-a-time"),
        OrderRow(order_id=str(nxt + 1), amount="-5"),
        OrderRow(order_id=str(nxt + 2), status="teleported"),
        OrderRow(order_id=str(nxt + 3), customer_id="X1"),
        OrderRow(order_id=str(nxt + 4), quantity="two"),
        OrderRow(order_id=""),
    ]
    batch.rows.extend(bad)
    batch.bad += len(bad)
    batch.rows.append(OrderRow(order_id=str(nxt + 10), discount="7", channel="fax"))  # warnings only
    batch.rows.append(OrderRow(order_id=str(nxt + 11), order_ts="05/03/2024 11:00:00"))
    batch.rows.append(OrderRow(order_id=str(nxt + 12), order_ts="1709632800000"))
    batch.rows.append(OrderRow(order_id=str(nxt + 13), order_ts="2024-03-05 12:00:00+02:00"))
    batch.rows.extend([batch.rows[0], batch.rows[3]])
    batch.duplicates += 2
    batch.raw_lines.append((5, "999999,C000009"))
    batch.bad += 1
    return batch


def csv_text(batch: OrderBatch, *, header: list[str] | None = None) -> str:
    lines = [",".join(header or ORDER_HEADER)]
    body = [",".join(r.cells()) for r in batch.rows]
    for pos, raw in batch.raw_lines:
        body.insert(pos, raw)
    return "\n".join(lines + body) + "\n"


def write_csv(
    path: Path, batch: OrderBatch, *, encoding: str = "utf-8", gz: bool = False, header: list[str] | None = None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = csv_text(batch, header=header).encode(encoding)
    if gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@dataclass(frozen=True)
class LakeOrder:
    """An order as the lake's orders table holds it (the columns the daily aggregates read)."""

    order_id: int
    day: int  # days after 2024-03-01
    currency: str = "EUR"
    customer: int = 1
    quantity: int = 1
    amount: float = 10.0


def lake_orders_table(orders: list[LakeOrder]):  # -> pa.Table; pyarrow is imported only by the tests that use it
    """A table of ``orders`` in the lake's layout (``dt`` partition, contract columns of the aggregates)."""
    from datetime import date, timedelta

    import pyarrow as pa

    first = date(2024, 3, 1)
    return pa.table(
        {
            "order_id": pa.array([o.order_id for o in orders], pa.int64()),
            "customer_id": pa.array([f"C{o.customer:06d}" for o in orders], pa.string()),
            "currency": pa.array([o.currency for o in orders], pa.string()),
            "quantity": pa.array([o.quantity for o in orders], pa.int64()),
            "amount": pa.array([o.amount for o in orders], pa.float64()),
            "dt": pa.array([first + timedelta(days=o.day) for o in orders], pa.date32()),
        }
    )


# A contract whose ``items`` arrays explode into the child dataset ``cart_items``.
CARTS_CONTRACT = """
name: carts
owner: tests@sluice.example
freshness_sla: 1d
primary_key: [cart_id]
partition: {column: at}
columns:
  - {name: cart_id, type: int64}
  - {name: at, type: timestamp}
explode:
  items:
    dataset: cart_items
    parent_key: [cart_id]
    index_column: pos
    carry: [at]
    contract:
      name: cart_items
      owner: tests@sluice.example
      freshness_sla: 1d
      primary_key: [cart_id, pos]
      partition: {column: at}
      columns:
        - {name: cart_id, type: int64}
        - {name: pos, type: int64}
        - {name: at, type: timestamp}
        - {name: sku, type: string}
        - {name: qty, type: int64, min: 1}
"""
