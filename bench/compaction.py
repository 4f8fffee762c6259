"""Benchmark: a lake table built by many small runs, queried before and after compaction and after Z-order.

    python bench/compaction.py [--runs 200] [--rows 2000] [--days 4] [--repeat 5] [--workdir DIR]

Builds one table as Sluice's ingestion lays it out: each of ``--runs`` runs
writes ``--rows`` generated orders spread over ``--days`` dates, one Parquet
file per date, committed as one Delta version with the row count as its
only statistics (:func:`sluice.lake.write.add_actions`). Not timed.

Then, on the same table in the same process:

(b) the table as the runs left it: ``runs x days`` small files;
(a1) after :func:`sluice.lake.maintain.optimize_table` (compaction, one file a date);
(a2) after ``optimize_table(zorder=["customer_id"])`` of a copy of (b) (what the
     flow does for a contract with ``maintenance.zorder``).

At each step it prints the file count and the median time of a selective
query (one customer's orders, ``--repeat`` times, DataFusion through
``deltalake.QueryBuilder``, the same SQL each time) and checks that the
query's answer and the table's row count never change. The last line gives
the ratios (b)/(a1) and (b)/(a2) of the query times and the peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, QueryBuilder

from sluice.lake.maintain import MIB, optimize_table
from sluice.lake.table import NewFile
from sluice.lake.write import add_actions

SCHEMA = pa.schema(
    [
        ("order_id", pa.int64()),
        ("customer_id", pa.string()),
        ("order_ts", pa.timestamp("us", tz="UTC")),
        ("amount", pa.float64()),
        ("country", pa.string()),
        ("dt", pa.date32()),
    ]
)
CUSTOMERS = 50_000
FIRST_DAY = date(2026, 1, 1)


def _run_rows(rng: np.random.Generator, run: int, rows: int, days: int) -> pa.Table:
    ids = np.arange(run * rows, (run + 1) * rows, dtype=np.int64)
    day = rng.integers(0, days, rows)
    seconds = day * 86_400 + rng.integers(0, 86_400, rows)
    epoch = (np.datetime64(FIRST_DAY.isoformat(), "s") - np.datetime64(0, "s")).astype(np.int64)
    return pa.table(
        {
            "order_id": ids,
            "customer_id": pa.array([f"C{c:06d}" for c in rng.integers(0, CUSTOMERS, rows)]),
            "order_ts": pa.array((epoch + seconds) * 1_000_000, pa.timestamp("us", tz="UTC")),
            "amount": np.round(rng.uniform(1, 500, rows), 2),
            "country": pa.array(rng.choice(["DE", "FR", "NL", "IT", "ES"], rows)),
            "dt": pa.array([FIRST_DAY + timedelta(days=int(d)) for d in day], pa.date32()),
        },
        schema=SCHEMA,
    )


def build(uri: Path, runs: int, rows: int, days: int) -> None:
    """``runs`` commits of one file per date each, with only row counts as statistics, as ingestion writes them."""
    rng = np.random.default_rng(0)
    table = DeltaTable.create(str(uri), schema=SCHEMA, partition_by=["dt"])
    data_schema = SCHEMA.remove(SCHEMA.get_field_index("dt"))
    for run in range(runs):
        batch, files = _run_rows(rng, run, rows, days), []
        for day in sorted(set(batch.column("dt").to_pylist())):
            part = batch.filter(pa.compute.equal(batch.column("dt"), pa.scalar(day, pa.date32()))).drop_columns(["dt"])
            rel = f"dt={day.isoformat()}/part-{run:04d}.parquet"
            (uri / rel).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(part.cast(data_schema), uri / rel)
            files.append(NewFile(rel, day.isoformat(), (uri / rel).stat().st_size, part.num_rows))
        table.create_write_transaction(add_actions(files), mode="append", schema=SCHEMA, partition_by=["dt"])
        table = DeltaTable(str(uri))


def query(uri: Path, customer: str, repeat: int) -> tuple[float, list[tuple[object, ...]]]:
    """Median seconds of one customer's orders, and the answer."""
    sql = f"SELECT order_id, amount FROM orders WHERE customer_id = '{customer}' ORDER BY order_id"
    times, answer = [], []
    for _ in range(repeat):
        table = DeltaTable(str(uri))  # a fresh reader each time: loading the log is part of the query
        clock = time.perf_counter()
        result = pa.table(QueryBuilder().register("orders", table).execute(sql).read_all())
        times.append(time.perf_counter() - clock)
        answer = list(zip(*(result.column(n).to_pylist() for n in result.column_names), strict=True))
    return statistics.median(times), answer


def _step(name: str, uri: Path, customer: str, repeat: int) -> tuple[float, list[tuple[object, ...]], int]:
    seconds, answer = query(uri, customer, repeat)
    table = DeltaTable(str(uri))
    files = len(table.file_uris())
    rows = sum(n for n in pa.table(table.get_add_actions(flatten=True)).column("num_records").to_pylist())
    print(f"{name:<26} files {files:>6,}  rows {rows:>10,}  query {seconds * 1000:8.1f} ms ({len(answer)} rows)")
    return seconds, answer, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rows", type=int, default=2000, help="rows per run")
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-compaction-"))
    uri = work / "orders"
    for old in ("orders", "orders-zorder"):
        shutil.rmtree(work / old, ignore_errors=True)
    clock = time.perf_counter()
    build(uri, args.runs, args.rows, args.days)
    print(f"built {args.runs} runs x {args.rows:,} rows in {time.perf_counter() - clock:.1f} s (not measured)")
    customer = pq.read_table(next(uri.rglob("*.parquet")), columns=["customer_id"]).column(0)[0].as_py()
    zorder_uri = Path(shutil.copytree(uri, work / "orders-zorder"))
    before, answer, rows = _step("(b) as the runs left it", uri, customer, args.repeat)
    compacted = optimize_table(str(uri), target_size=128 * MIB)
    print(f"    compaction: {compacted.summary}, {compacted.seconds:.1f} s")
    after_compact, answer_c, rows_c = _step("(a1) compacted", uri, customer, args.repeat)
    zordered = optimize_table(str(zorder_uri), zorder=["customer_id"], target_size=128 * MIB)
    print(f"    z-order: {zordered.summary}, {zordered.seconds:.1f} s")
    after_z, answer_z, rows_z = _step("(a2) Z-ordered", zorder_uri, customer, args.repeat)
    same = answer == answer_c == answer_z and rows == rows_c == rows_z
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"summary: query (b)/(a1) {before / after_compact:.1f}x, (b)/(a2) {before / after_z:.1f}x; "
        f"answers and row counts {'identical' if same else 'DIFFER'}; peak RSS {peak:.0f} MiB"
    )
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
