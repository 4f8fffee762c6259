"""Benchmark: a keyed upsert applied by Sluice against delta-rs's own MERGE on an identical copy of the table.

    python bench/apply.py [--sizes 1000000:5000000,5000000:20000000] [--seed 0] [--workdir DIR] [--keep]

For each ``N:M`` in ``--sizes`` (not timed): writes an upsert table of ``M``
rows (``orders``: id, created_at over 30 days, updated_at, name, amount; the
lake schema, partitioned by ``dt``) with ``deltalake.write_deltalake``,
copies its folder, and writes ``N`` incoming rows to a Parquet file: half
updates of existing keys drawn at random (a later ``updated_at``, new name
and amount), half new keys. Then, in the same run, each in a fresh child
process metered with bench/meter.py:

(b) delta-rs: ``DeltaTable.merge(source, "t.id = s.id")
    .when_matched_update_all().when_not_matched_insert_all().execute()`` on the
    copy, the source a record batch reader over the Parquet file;
(a) Sluice: :func:`sluice.lake.apply.apply_batches` on the original, the rows
    read from the same Parquet file one record batch at a time (as
    ``commit_batches`` feeds staged files).

Then it reads both tables and checks they hold the same rows (every column
but ``_batch_id``, which only Sluice's commit stamps the same as the source),
and Sluice's counts (inserted N/2, updated N/2). Times are the operation only
(child start and imports excluded); peak RSS is the child's process tree. The
ratio is merge time / Sluice time (above 1: Sluice is faster). The last line
is a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.meter import GIB, Measured, ProcessMeter

CONTRACT = """
name: orders
owner: bench@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: created_at}
mode: upsert
order_by: updated_at
columns:
  - {name: id, type: int64}
  - {name: created_at, type: timestamp}
  - {name: updated_at, type: timestamp}
  - {name: name, type: string, nullable: true}
  - {name: amount, type: float64, nullable: true}
"""
DAYS = 30
START_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z
DAY_US = 86_400_000_000
CHUNK = 1_000_000  # rows generated and written at a time


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="1000000:5000000,5000000:20000000", help="N:M pairs, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="where the tables go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the tables")
    parser.add_argument("--side", choices=["sluice", "merge"], help=argparse.SUPPRESS)
    parser.add_argument("--table", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--incoming", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _schema() -> pa.Schema:
    from sluice.lake.table import lake_schema
    from sluice.validate.contracts import parse_contract

    return lake_schema(parse_contract(CONTRACT))


def _rows(ids: np.ndarray, created: np.ndarray, updated: np.ndarray, rng: np.random.Generator, batch: str) -> pa.Table:
    """Rows in the lake schema: ``dt`` is ``created_at``'s date, ``_source_row`` the row's place in its batch."""
    ts = pa.timestamp("us", tz="UTC")
    created_at = pa.array(created, ts)
    columns = {
        "id": pa.array(ids, pa.int64()),
        "created_at": created_at,
        "updated_at": pa.array(updated, ts),
        "name": pc.binary_join_element_wise("n", pa.array(rng.integers(0, 10**6, len(ids))).cast(pa.string()), ""),
        "amount": pa.array(rng.random(len(ids)) * 1000),
        "dt": pc.cast(created_at, pa.date32()),
        "_batch_id": pa.array([batch] * len(ids), pa.string()),
        "_source_row": pa.array(np.arange(len(ids)), pa.int64()),
        "_warnings": pa.nulls(len(ids), pa.string()),
    }
    return pa.table(columns).cast(_schema())


def _created(ids: np.ndarray) -> np.ndarray:
    return START_US + (ids % DAYS) * DAY_US + (ids % 86_400) * 1_000_000


def make_table(path: Path, m: int, seed: int) -> None:
    """``m`` rows, keys 0..m-1, written in chunks (one Delta commit each)."""
    from deltalake import write_deltalake

    rng = np.random.default_rng(seed)
    for start in range(0, m, CHUNK):
        ids = np.arange(start, min(m, start + CHUNK), dtype=np.int64)
        rows = _rows(ids, _created(ids), _created(ids), rng, "base")
        write_deltalake(str(path), rows, mode="append", partition_by=["dt"])


def make_incoming(path: Path, n: int, m: int, seed: int) -> None:
    """``n`` rows with distinct keys: half existing keys drawn at random (updated a day later), half new keys."""
    rng = np.random.default_rng(seed + 1)
    updates = rng.choice(m, size=n // 2, replace=False).astype(np.int64)
    ids = np.concatenate([updates, np.arange(m, m + n - n // 2, dtype=np.int64)])
    rng.shuffle(ids)
    writer = pq.ParquetWriter(str(path), _schema())
    for start in range(0, n, CHUNK):
        part = ids[start : start + CHUNK]
        rows = _rows(part, _created(part), _created(part) + DAY_US, rng, "run")
        rows = rows.set_column(
            rows.schema.get_field_index("_source_row"),
            "_source_row",
            pa.array(np.arange(start, start + len(part)), pa.int64()),
        )
        writer.write_table(rows)
    writer.close()


def sluice_side(table: Path, incoming: Path) -> None:
    from deltalake import DeltaTable

    from sluice.lake.apply import apply_batches
    from sluice.validate.contracts import parse_contract

    contract = parse_contract(CONTRACT)
    source = pq.ParquetFile(str(incoming))
    version = DeltaTable(str(table)).version()
    clock = time.perf_counter()
    parts = (pa.Table.from_batches([b]) for b in source.iter_batches(batch_size=CHUNK // 4))
    result = apply_batches(
        str(table), contract, parts, batch_ids=["run"], version=version, metadata={}, work_dir=table.parent
    )
    seconds = time.perf_counter() - clock
    print(
        json.dumps(
            {
                "seconds": seconds,
                "inserted": result.inserted,
                "updated": result.updated,
                "groups": result.groups,
                "files_added": result.files_added,
            }
        )
    )


def merge_side(table: Path, incoming: Path) -> None:
    from deltalake import DeltaTable

    source = pq.ParquetFile(str(incoming))
    clock = time.perf_counter()
    reader = pa.RecordBatchReader.from_batches(source.schema_arrow, source.iter_batches(batch_size=CHUNK // 4))
    metrics = (
        DeltaTable(str(table))
        .merge(reader, predicate="t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    seconds = time.perf_counter() - clock
    print(
        json.dumps(
            {
                "seconds": seconds,
                "inserted": metrics["num_target_rows_inserted"],
                "updated": metrics["num_target_rows_updated"],
            }
        )
    )


def timed(side: str, table: Path, incoming: Path) -> tuple[dict[str, float], Measured]:
    cmd = [sys.executable, __file__, "--side", side, "--table", str(table), "--incoming", str(incoming)]
    with ProcessMeter() as mem:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{side} failed: {done.stderr.strip()[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), Measured.of(mem)


def same_rows(a: Path, b: Path) -> bool:
    """Both tables hold the same rows, compared a key range at a time (every column but ``_batch_id``)."""
    import pyarrow.dataset as ds
    from deltalake import DeltaTable

    names = ["id", "created_at", "updated_at", "name", "amount", "dt"]
    left, right = DeltaTable(str(a)).to_pyarrow_dataset(), DeltaTable(str(b)).to_pyarrow_dataset()
    top = pc.max(left.to_table(columns=["id"]).column("id")).as_py()
    for low in range(0, top + 1, 4 * CHUNK):
        where = (ds.field("id") >= low) & (ds.field("id") < low + 4 * CHUNK)
        x = left.to_table(columns=names, filter=where).sort_by("id")
        y = right.to_table(columns=names, filter=where).sort_by("id")
        if not x.equals(y):
            return False
    return True


def run_size(root: Path, n: int, m: int, seed: int) -> dict[str, object]:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    clock = time.perf_counter()
    make_table(root / "sluice", m, seed)
    shutil.copytree(root / "sluice", root / "merge")
    make_incoming(root / "incoming.parquet", n, m, seed)
    print(f"N={n:,} into M={m:,}: generated in {time.perf_counter() - clock:.0f} s", flush=True)
    merge, merge_mem = timed("merge", root / "merge", root / "incoming.parquet")
    print(
        f"  (b) delta-rs merge: {merge['seconds']:.1f} s, peak RSS {merge_mem.peak_child / GIB:.2f} GiB, "
        f"CPU {merge_mem.cpu:.1f} s, RSS by 5 s {merge_mem.timeline}",
        flush=True,
    )
    sluice, sluice_mem = timed("sluice", root / "sluice", root / "incoming.parquet")
    print(
        f"  (a) Sluice apply:   {sluice['seconds']:.1f} s, peak RSS {sluice_mem.peak_child / GIB:.2f} GiB, "
        f"CPU {sluice_mem.cpu:.1f} s, groups {sluice['groups']}, RSS by 5 s {sluice_mem.timeline}",
        flush=True,
    )
    counts = sluice["inserted"] == n - n // 2 and sluice["updated"] == n // 2
    counts = counts and merge["inserted"] == n - n // 2 and merge["updated"] == n // 2
    equal = same_rows(root / "sluice", root / "merge")
    ratio = merge["seconds"] / sluice["seconds"]
    print(
        f"  ratio merge/sluice={ratio:.2f} counts={'matched' if counts else 'DIFFER'} "
        f"tables={'equal' if equal else 'DIFFER'}",
        flush=True,
    )
    return {
        "n": n,
        "m": m,
        "ratio": ratio,
        "sluice_s": sluice["seconds"],
        "merge_s": merge["seconds"],
        "sluice_gib": sluice_mem.peak_child / GIB,
        "merge_gib": merge_mem.peak_child / GIB,
        "ok": counts and equal,
    }


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    if args.side == "sluice":
        return sluice_side(args.table, args.incoming)
    if args.side == "merge":
        return merge_side(args.table, args.incoming)
    base = args.workdir or Path(tempfile.mkdtemp(prefix="sluice-bench-apply-"))
    results = []
    try:
        for pair in args.sizes.split(","):
            n, m = (int(x) for x in pair.split(":"))
            results.append(run_size(base / f"n{n}-m{m}", n, m, args.seed))
            if not args.keep:
                shutil.rmtree(base / f"n{n}-m{m}", ignore_errors=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    print(
        " ".join(
            f"[{r['n']:,}->{r['m']:,}] ratio={r['ratio']:.2f} sluice={r['sluice_s']:.1f}s/{r['sluice_gib']:.2f}GiB "
            f"merge={r['merge_s']:.1f}s/{r['merge_gib']:.2f}GiB"
            for r in results
        )
        + f" matched={'yes' if all(r['ok'] for r in results) else 'NO'}"
    )
    return None


if __name__ == "__main__":
    main()
