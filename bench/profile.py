"""Benchmark: column profiles (:mod:`sluice.profile`) of orders-like rows, in record batches of 65,536.

    python bench/profile.py [--rows 1000000] [--rounds 3]

Three columns per row (an int64 id, a three-value currency code, a float
amount with 5 % nulls), made with numpy (not timed); prints the best of
``--rounds`` wall times and the rows per second.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa

from sluice.profile import profile_batches


def table(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "order_id": pa.array(np.arange(rows)),
            "currency": pa.array(rng.choice(np.array(["EUR", "USD", "GBP"]), rows)),
            "amount": pa.array(rng.normal(100.0, 10.0, rows), mask=rng.random(rows) < 0.05),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = table(args.rows)
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        profile_batches(data.to_batches(max_chunksize=65_536))
        times.append(time.perf_counter() - start)
    best = min(times)
    print(f"{args.rows:,} rows x 3 columns: best of {args.rounds} {best:.2f} s, {args.rows / best:,.0f} rows/s")


if __name__ == "__main__":
    main()
