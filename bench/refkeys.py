"""Benchmark: the reference check's key lookup alone, KeySet against ``pyarrow.compute.is_in`` per chunk.

    python bench/refkeys.py [--parents 1000000] [--rows 5000000] [--chunk-rows 500000]

For three kinds of key (the demo's ``C`` + six digits strings, 36-character
UUID strings, int64), makes ``--parents`` distinct parent keys (1 % of them
left out of the lookup) and ``--rows`` child keys drawn from them, in
``--chunk-rows`` slices as the flow validates them (not timed). Then, each
side in a fresh child process:

(a) Sluice: :class:`sluice.validate.keyset.KeySet` built once from the parent
    keys, :meth:`~sluice.validate.keyset.KeySet.missing` for every chunk;
(b) Arrow: ``pyarrow.compute.is_in`` of every chunk against the parent keys,
    which hashes the parent keys again in each call.

Prints each side's CPU seconds (build and probes), the ratio b/a, each side's
peak RSS, and checks that both find the same orphans.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KINDS = ("code", "uuid", "int64")


def _keys(kind: str, parents: int, rows: int, chunk_rows: int) -> tuple[Any, list[Any]]:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(0)
    ids = np.arange(parents)
    if kind == "code":
        every = pa.array([f"C{i:06d}" for i in ids.tolist()], pa.string())
    elif kind == "uuid":
        every = pa.array([str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**63, parents)], pa.string())
    else:
        every = pa.array(rng.integers(-(2**62), 2**62, parents))
    kept = every.filter(pa.array(rng.random(parents) >= 0.01))
    child = every.take(pa.array(rng.integers(0, parents, rows)))
    return kept, [pa.table({"k": child.slice(s, chunk_rows)}) for s in range(0, rows, chunk_rows)]


def _side(side: str, kind: str, parents: int, rows: int, chunk_rows: int) -> tuple[float, float, int, int]:
    """CPU seconds of building and of probing, orphans found, peak RSS in bytes (of this fresh process)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from sluice.validate.keyset import KeySet

    kept, chunks = _keys(kind, parents, rows, chunk_rows)
    started = time.process_time()
    keys = KeySet(pa.table({"k": kept})) if side == "a" else None
    built = time.process_time()
    found = 0
    for chunk in chunks:
        if keys is not None:
            found += int(keys.missing(chunk, ["k"]).sum())
        else:
            found += int(pc.sum(pc.invert(pc.is_in(chunk.column("k"), value_set=kept))).as_py() or 0)
    done = time.process_time()
    return built - started, done - built, found, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--parents", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    print(f"{args.parents:,} parent keys, {args.rows:,} child keys in {args.chunk_rows:,}-row chunks")
    for kind in KINDS:
        out = {}
        for side in ("a", "b"):
            with ctx.Pool(1) as pool:
                out[side] = pool.apply(_side, (side, kind, args.parents, args.rows, args.chunk_rows))
        (ab, ap, af, am), (bb, bp, bf, bm) = out["a"], out["b"]
        bp += bb  # (b) builds nothing ahead: 0
        if af != bf:
            raise SystemExit(f"{kind}: KeySet found {af:,} orphans, is_in {bf:,}")
        print(
            f"{kind:6s} (a) KeySet CPU {ab + ap:.2f} s (build {ab:.2f}, probes {ap:.2f}), peak RSS {am / 2**30:.2f} GiB"
            f" | (b) is_in CPU {bp:.2f} s, peak RSS {bm / 2**30:.2f} GiB | ratio b/a {bp / (ab + ap):.1f}"
            f" | {af:,} orphans"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
