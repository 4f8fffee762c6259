"""Benchmark: exploding a JSON Lines file's arrays into child rows, against pyarrow's own reader and flatten.

    python bench/explode.py [--parents 200000] [--items 5] [--repeat 3]

Writes ``--parents`` orders, each with an ``items`` array of 0 to
2 x ``--items`` objects (sku, qty, a nested price), as one JSON Lines file
(not timed). Then, each side in a fresh child process, best of ``--repeat``:

(a) Sluice: the JSON Lines reader of the parent contract (every value read as
    its text, the array kept as JSON text) and :func:`sluice.formats.explode.explode_chunk`
    for every chunk: the child rows with parent key, carried timestamp, index and
    element columns, not yet validated;
(b) pyarrow: ``pyarrow.json.read_json`` of the whole file (types inferred),
    ``list_flatten`` of the items, ``list_parent_indices`` to take the parent key,
    and the nested price field: the same child columns, no checks at all.

Prints child rows per second of each side, the ratio a/b, each side's CPU
seconds (and, for Sluice, those of ``explode_chunk`` alone: the rest is the
JSON Lines reader) and each side's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PARENT = """
name: bench_orders
owner: bench@sluice.example
freshness_sla: 1d
primary_key: [order_id]
partition: {column: order_ts}
columns:
  - {name: order_id, type: int64}
  - {name: order_ts, type: timestamp}
  - {name: customer, type: string}
explode:
  items:
    dataset: bench_order_items
    parent_key: [order_id]
    index_column: item_index
    carry: [order_ts]
    contract:
      name: bench_order_items
      owner: bench@sluice.example
      freshness_sla: 1d
      primary_key: [order_id, item_index]
      partition: {column: order_ts}
      columns:
        - {name: order_id, type: int64}
        - {name: item_index, type: int64}
        - {name: order_ts, type: timestamp}
        - {name: sku, type: string}
        - {name: qty, type: int64}
        - {name: price_eur, type: float64, nullable: true}
"""


def write_orders(path: Path, parents: int, items: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    total = 0
    with path.open("w") as out:
        for i in range(1, parents + 1):
            n = rng.randint(0, 2 * items)
            total += n
            lines = [
                {"sku": f"S{rng.randint(1, 99999)}", "qty": rng.randint(1, 9), "price": {"eur": k + 0.5}}
                for k in range(n)
            ]
            out.write(
                json.dumps({"order_id": i, "order_ts": "2024-05-01T09:00:00Z", "customer": f"C{i}", "items": lines})
                + "\n"
            )
    return total


EXPLODE_CPU: list[float] = []  # the CPU seconds of explode_chunk alone, in the sluice side's process


def sluice_side(path: str) -> int:
    from sluice.formats import ColumnPaths, open_reader
    from sluice.formats.explode import explode_chunk
    from sluice.sources.files import list_source_files
    from sluice.validate.contracts import parse_contract

    contract = parse_contract(PARENT)
    spec = contract.explode["items"]
    src = list_source_files(str(Path(path).parent), Path(path).name)[0]
    reader = open_reader(
        src, contract.column_names, encoding="utf-8", chunk_rows=250_000, paths=ColumnPaths.of(contract)
    )
    chunks = list(reader.chunks())
    start = time.process_time()
    rows = sum(explode_chunk(chunk, "items", spec).chunk.table.num_rows for chunk in chunks)
    EXPLODE_CPU.append(time.process_time() - start)
    return rows


def pyarrow_side(path: str) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    table = pj.read_json(path)
    items = table.column("items").combine_chunks()
    flat = pc.list_flatten(items)
    owner = pc.list_parent_indices(items)
    offsets = items.offsets.to_numpy()
    index = pa.array(np.arange(len(flat)) + offsets[0] - offsets[owner.to_numpy()])
    child = pa.table(
        {
            "order_id": table.column("order_id").take(owner),
            "item_index": index,
            "order_ts": table.column("order_ts").take(owner),
            "sku": pc.struct_field(flat, "sku"),
            "qty": pc.struct_field(flat, "qty"),
            "price_eur": pc.struct_field(pc.struct_field(flat, "price"), "eur"),
        }
    )
    return child.num_rows


def _timed(side: str, path: str, queue: mp.Queue) -> None:
    import pyarrow.json  # noqa: F401 - imports are not timed

    import sluice.formats.explode
    import sluice.validate.contracts  # noqa: F401

    run = sluice_side if side == "sluice" else pyarrow_side
    start_cpu, start = time.process_time(), time.perf_counter()
    rows = run(path)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - start_cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put((rows, seconds, cpu, peak, sum(EXPLODE_CPU)))


def measure(side: str, path: str) -> tuple[int, float, float, int, float]:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_timed, args=(side, path, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.jsonl"
        expected = write_orders(path, args.parents, args.items)
        best: dict[str, tuple[int, float, float, int, float]] = {}
        for _ in range(args.repeat):
            for side in ("pyarrow", "sluice"):
                got = measure(side, str(path))
                if got[0] != expected:
                    raise SystemExit(f"{side} made {got[0]:,} child rows, expected {expected:,}")
                if side not in best or got[1] < best[side][1]:
                    best[side] = got
    a, b = best["sluice"], best["pyarrow"]
    print(
        f"ratio a/b={b[1] / a[1]:.2f} sluice={a[0] / a[1]:,.0f} child rows/s pyarrow={b[0] / b[1]:,.0f} child rows/s "
        f"peak_rss_sluice={a[3] / 2**30:.2f}GiB peak_rss_pyarrow={b[3] / 2**30:.2f}GiB "
        f"cpu_s_sluice={a[2]:.1f} (explode_chunk {a[4]:.2f}) cpu_s_pyarrow={b[2]:.1f} "
        f"parents={args.parents:,} children={expected:,}"
    )


if __name__ == "__main__":
    main()
