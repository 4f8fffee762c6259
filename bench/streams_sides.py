"""The two sides of bench/streams.py (each runs in its own child process), the orders, and the lake's latencies."""

from __future__ import annotations

import argparse
import io
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote

import numpy as np

ORDERS = "orders"
LATENCY_GROUP = "sluice-latency"
CONTRACT = """
name: orders
owner: bench@sluice.example
freshness_sla: 1d
primary_key: [order_id]
partition: {column: created_at}
columns:
  - {name: order_id, type: int64}
  - {name: customer_id, type: int64}
  - {name: created_at, type: timestamp}
  - {name: status, type: string, allowed_values: [placed, paid, shipped, cancelled]}
  - {name: amount, type: float64}
  - {name: currency, type: string}
  - {name: country, type: string}
  - {name: sku, type: string}
  - {name: quantity, type: int64}
  - {name: email, type: string, nullable: true}
  - {name: produced_ms, type: int64}
"""
_STATUS = ("placed", "paid", "shipped", "cancelled")
_COUNTRY = ("DE", "FR", "US", "GB", "NL", "ES")


def order(i: int, produced_ms: int, *, spread_days: int = 0) -> bytes:
    """An order as one JSON object, ``produced_ms`` when it was produced (ms since the epoch).

    ``created_at`` is the produce time (an order event arrives as it happens), or with ``spread_days``
    spread over that many days (every batch then touches every day's partition of the table).
    """
    if spread_days:
        created = f"2026-11-{1 + i % spread_days:02d}T10:{i % 60:02d}:00Z"
    else:
        created = datetime.fromtimestamp(produced_ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f'{{"order_id": {i}, "customer_id": {i % 9973}, "created_at": "{created}", '
        f'"status": "{_STATUS[i % 4]}", "amount": {(i % 5000) / 7:.2f}, "currency": "EUR", '
        f'"country": "{_COUNTRY[i % 6]}", "sku": "SKU-{i % 1000:04d}", "quantity": {1 + i % 9}, '
        f'"email": "buyer{i % 9973}@example.com", "produced_ms": {produced_ms}}}'
    ).encode()


def _done(seconds: float, messages: int, **more: float) -> None:
    print(json.dumps({"seconds": seconds, "messages": messages, **more}), flush=True)


def plain_side(bootstrap: str, topic: str, group: str, n: int, batch: int, out: Path) -> None:
    """(b): consume batches, ``pyarrow.json.read_json`` their values, one Parquet file each, commit the offsets."""
    import pyarrow.json as pj
    import pyarrow.parquet as pq
    from confluent_kafka import Consumer

    out.mkdir(parents=True, exist_ok=True)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got, part, start = 0, 0, time.perf_counter()
    last = start
    while got < n and time.perf_counter() - last < 30:
        values = [m.value() for m in consumer.consume(num_messages=batch, timeout=1.0) if m.error() is None]
        if not values:
            continue
        table = pj.read_json(io.BytesIO(b"\n".join(v for v in values if v)))
        pq.write_table(table, out / f"part-{part:05d}.parquet")
        consumer.commit(asynchronous=False)
        got, part, last = got + len(values), part + 1, time.perf_counter()
    consumer.close()
    _done(last - start, got)


def sluice_side(
    bootstrap: str, topic: str, group: str, n: int, batch: int, work: Path, args: argparse.Namespace
) -> None:
    """(a): the ingest-stream path (KafkaSource, consume, StreamSink); ``n`` 0: until idle for ``args.follow`` s."""
    from sluice.sources.streams.base import BatchLimits
    from sluice.sources.streams.consume import ConsumeSpec, consume
    from sluice.sources.streams.kafka import KafkaConfig, KafkaSource
    from sluice.sources.streams.sink import BatchOutcome, StreamSink
    from sluice.validate.contracts import parse_contract

    contract = parse_contract(CONTRACT)
    sink = StreamSink(contract, str(work / "lake"), work / "staging", str(work / "quarantine"))
    source = KafkaSource(KafkaConfig(bootstrap, topic, group), lambda: sink.positions(f"kafka:{topic}"))
    counts = {"read": 0, "written": 0, "quarantined": 0}
    start = time.perf_counter()
    last = [start]

    def on_batch(outcome: BatchOutcome) -> None:
        counts["read"] += outcome.read
        counts["written"] += outcome.written
        counts["quarantined"] += outcome.quarantined
        last[0] = time.perf_counter()

    limits = BatchLimits(max_records=batch, max_wait_s=args.max_wait if n == 0 else 1.0)
    # n 0 (latency): until the stream has been idle args.follow seconds, so a slow consumer still drains it all.
    spec = ConsumeSpec(limits, follow_s=0.0, idle_s=args.follow if n == 0 else 5.0)
    print("ready", flush=True)
    consume(source, sink, spec, on_batch=on_batch)
    _done(last[0] - start, counts["read"], written=counts["written"], quarantined=counts["quarantined"])


@dataclass(frozen=True)
class Latencies:
    """Every message's seconds from its produce time to the commit of the Delta version that holds it."""

    seconds: np.ndarray
    versions: int

    @property
    def count(self) -> int:
        return len(self.seconds)

    @property
    def worst(self) -> float:
        return float(self.seconds.max()) if self.count else float("nan")

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.seconds, q)) if self.count else float("nan")


def window_latencies(table: Path) -> Latencies:
    """Read the table's log: each version's commit timestamp against the ``produced_ms`` of the rows it added."""
    import pyarrow.parquet as pq

    found: list[np.ndarray] = []
    versions = 0
    for entry in sorted((table / "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in entry.read_text().splitlines() if line.strip()]
        committed = next((a["commitInfo"]["timestamp"] for a in actions if "commitInfo" in a), None)
        adds = [a["add"]["path"] for a in actions if "add" in a]
        if committed is None or not adds:
            continue
        versions += 1
        for path in adds:
            produced = pq.read_table(table / unquote(path), columns=["produced_ms"]).column(0).to_numpy()
            found.append((committed - produced) / 1000.0)
    return Latencies(np.concatenate(found) if found else np.empty(0), versions)
