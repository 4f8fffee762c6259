"""Benchmark: a release of a few held rows, written as Sluice writes it against a rewrite of the whole hold table.

    python bench/held_release.py [--held 1000000,4000000] [--batches 100] [--moved 1000] [--rounds 3] [--workdir DIR]

For each size in ``--held``, writes (not timed) a hold table of that many rows in the hold table's layout
(order_id, customer_id, amount, dt, _batch_id, _source_row and the hold columns),
one append per batch as :func:`sluice.lake.held.store_held` makes them, ``--batches``
appends; ``--moved`` rows of the first batches are the release. Then, in the same
run, alternately and each in a fresh child process on its own copy of the table:

(b) rewrite: read the whole table, mark the moved rows in memory, overwrite the table;
    then drop them and overwrite it again (the simple way to write a release);
(a) Sluice: the open rows' deciding columns read as a release reads them
    (:func:`sluice.lake.held_scan.scan`: ``_release IS NULL`` pushed down, one record
    batch at a time), :func:`sluice.lake.held.mark_rows` (a merge rewriting only the
    files holding the moved rows), then :func:`sluice.lake.held.drop_releases` (a delete
    by release id).

Both end states are checked to hold the same rows. Times cover the reads and the two
writes; child start and imports are excluded; peak RSS is the child's own (``ru_maxrss``,
imports included). The ratio is (b) time / (a) time: above 1, Sluice's release is faster. One summary line per size,
and last, how each side's peak RSS grows from the smallest size to the largest.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.meter import GIB

RELEASE = "release-" + "0" * 32


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--held", default="1000000,4000000", help="held rows, one or more sizes (default 1000000,4000000)"
    )
    parser.add_argument("--batches", type=int, default=100, help="appends of held rows (default 100)")
    parser.add_argument("--moved", type=int, default=1_000, help="rows the release takes (default 1,000)")
    parser.add_argument("--rounds", type=int, default=3, help="(a) runs, each between two (b) runs (default 3)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--side", choices=["rewrite", "sluice"], default=None, help=argparse.SUPPRESS)
    parser.add_argument("--table", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_table(uri: Path, held: int, batches: int) -> None:
    from deltalake import write_deltalake

    from sluice.lake.held import with_hold_columns

    per = held // batches
    for b in range(batches):
        ids = np.arange(b * per, (b + 1) * per, dtype=np.int64)
        rows = pa.table(
            {
                "order_id": ids,
                "customer_id": pa.array([f"C{i % 1_000_000:06d}" for i in ids]),
                "amount": (ids % 500).astype(np.float64) + 0.5,
                "dt": pa.array(np.full(per, 19_800, dtype=np.int32)).cast(pa.date32()),
                "_batch_id": pa.repeat(f"sluice-{b:032x}", per),  # as batch ids are spelled
                "_source_row": pa.array(ids - b * per + 1),
            }
        )
        write_deltalake(str(uri), with_hold_columns(rows, run_id="bench", source_file=f"f{b}.csv"), mode="append")


def _decided(table: pa.Table, moved: int) -> pa.Table:
    picked = table.filter(pc.less(table.column("order_id"), moved)).select(["_batch_id", "_source_row"])
    return picked.append_column("_release", pa.repeat(RELEASE, picked.num_rows)).append_column(
        "_expired", pa.repeat(False, picked.num_rows)
    )


def side(name: str, uri: Path, moved: int) -> None:
    """One side's writes, timed; prints the seconds as JSON."""
    import pyarrow.dataset as ds
    from deltalake import DeltaTable, write_deltalake

    from sluice.lake.held import drop_releases, mark_rows
    from sluice.lake.held_scan import scan

    clock = time.perf_counter()
    if name == "sluice":
        cols = ["order_id", "_batch_id", "_source_row"]  # the columns a release decides by
        found = scan(DeltaTable(str(uri)), cols, ds.field("_release").is_null(), {})
        marks = pa.concat_tables([_decided(rows, moved) for rows in found])
        mark_rows(str(uri), marks, {})
        drop_releases(str(uri), [RELEASE], {})
    else:
        table = DeltaTable(str(uri)).to_pyarrow_table()
        chosen = pc.less(table.column("order_id"), moved)
        release = pc.if_else(chosen, pa.scalar(RELEASE), table.column("_release"))
        marked = table.set_column(table.schema.get_field_index("_release"), "_release", release)
        write_deltalake(str(uri), marked, mode="overwrite")
        kept = marked.filter(pc.invert(pc.fill_null(pc.equal(marked.column("_release"), RELEASE), False)))
        write_deltalake(str(uri), kept, mode="overwrite")
    seconds = time.perf_counter() - clock
    print(json.dumps({"seconds": seconds, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def timed(name: str, uri: Path, moved: int) -> tuple[float, int]:
    """One side in a child process: its seconds, and its peak RSS in bytes (the child's own ``ru_maxrss``)."""
    cmd = [sys.executable, __file__, "--side", name, "--table", str(uri), "--moved", str(moved)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{name} failed: {done.stderr.strip()[-1500:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return float(out["seconds"]), int(out["peak"])


def same_rows(a: Path, b: Path) -> bool:
    from deltalake import DeltaTable

    cols = ["order_id", "_release"]
    x = DeltaTable(str(a)).to_pyarrow_table(columns=cols).sort_by("order_id")
    y = DeltaTable(str(b)).to_pyarrow_table(columns=cols).sort_by("order_id")
    return bool(x.equals(y))


def _run(name: str, root: Path, original: Path, moved: int, i: int) -> tuple[float, int, Path]:
    copy = root / f"{name}-{i}"
    shutil.copytree(original, copy)
    seconds, mem = timed(name, copy, moved)
    print(f"  ({'a' if name == 'sluice' else 'b'}) {name}: {seconds:.2f} s, peak RSS {mem / GIB:.2f} GiB")
    return seconds, mem, copy


def measure(args: argparse.Namespace, work: Path, held: int) -> tuple[float, float, float, bool]:
    """One size: (a) and (b) alternated; the median ratio, both sides' peak RSS and whether the rows agree."""
    root = work / f"held-{held}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    make_table(root / "held", held, args.batches)
    print(f"{held:,} held rows in {args.batches} appends; the release takes {args.moved:,}", flush=True)
    ratios, peaks_a, peaks_b, same = [], [], [], True
    before, mem_b, copy_b = _run("rewrite", root, root / "held", args.moved, 0)
    peaks_b.append(mem_b)
    for i in range(args.rounds):
        seconds, mem_a, copy_a = _run("sluice", root, root / "held", args.moved, i)
        after, mem_b, copy_b = _run("rewrite", root, root / "held", args.moved, i + 1)
        ratios.append(statistics.mean([before, after]) / seconds)
        peaks_a.append(mem_a)
        peaks_b.append(mem_b)
        same = same and same_rows(copy_a, copy_b)
        before = after
    print(
        f"summary {held:,} held: rewrite/Sluice time ratio median {statistics.median(ratios):.1f}x over "
        f"{args.rounds} round(s); peak RSS Sluice {max(peaks_a) / GIB:.2f} GiB, rewrite {max(peaks_b) / GIB:.2f} GiB; "
        f"same rows: {same}",
        flush=True,
    )
    shutil.rmtree(root, ignore_errors=True)
    return statistics.median(ratios), max(peaks_a), max(peaks_b), same


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    if args.side:
        side(args.side, args.table, args.moved)
        return
    sizes = sorted(int(s) for s in str(args.held).split(","))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sluice-held-bench-"))
    results = {n: measure(args, work, n) for n in sizes}
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    if len(sizes) > 1:
        small, large = results[sizes[0]], results[sizes[-1]]
        print(
            f"peak RSS from {sizes[0]:,} to {sizes[-1]:,} held rows ({sizes[-1] / sizes[0]:.0f}x): "
            f"Sluice {small[1] / GIB:.2f} -> {large[1] / GIB:.2f} GiB ({large[1] / small[1]:.2f}x), "
            f"rewrite {small[2] / GIB:.2f} -> {large[2] / GIB:.2f} GiB ({large[2] / small[2]:.2f}x)"
        )


if __name__ == "__main__":
    main()
