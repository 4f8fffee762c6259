"""Benchmark: ``ops correlate`` at fleet scale, against the same statistics in a per-series loop.

    python bench/correlate_scale.py [--series 1000] [--hours 2] [--step 1] [--loop-sample 100] [--seed 0]

Generates (not timed) ``--series`` metrics over ``--hours`` at one row per
``--step`` seconds: noise, random walks, quantised gauges and counters, with
a CPU hog injected into one series a twelfth of the window before a failure
an eighth of the window from the end (10 and 15 minutes of two hours), and a
latency column that follows it. Then times:

* **Sluice**: :func:`ops.correlate.correlate_frame` over the whole frame, with
  the failure signal, and again with ``--target latency`` (which adds the FFT
  cross-correlation and Granger tests);
* **pandas loop**: the plain way, a loop over the columns of a pandas
  DataFrame computing the same change point (CUSUM), robust shift (median,
  MAD, quantum) and peak with Series methods, one column at a time (on
  ``--loop-sample`` columns, scaled to the fleet); against it, the same
  statistics in Sluice's vectorised blocks
  (:func:`ops.correlate.stats.evidence_in_blocks`). The full Sluice run also
  prepares the frame (counters, gaps, constant columns) and writes every
  suspect's evidence.

Times are wall clock, best of ``--repeat`` runs. Peak memory is what the
Sluice run allocated at most (``tracemalloc``, in a separate untimed run) and
the process's peak RSS. The last line is a summary.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ops.correlate import WideFrame, correlate_frame, prepare_frame
from ops.correlate.stats import evidence_in_blocks

T0 = datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc)
HOG = "host_07_cpu_percent"


def fleet(series: int, rows: int, step: float, seed: int) -> tuple[WideFrame, int]:
    """The synthetic fleet and the failure row."""
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, 4, series)
    noise = rng.normal(0.0, 1.0, (series, rows))
    values = np.where(kinds[:, None] == 1, np.cumsum(noise * 0.1, axis=1), noise)
    values = np.where(kinds[:, None] == 2, np.round(values * 3) * 4096.0, values)
    values = np.where(kinds[:, None] == 3, np.cumsum(np.abs(noise) * 100, axis=1), values)  # counters
    values += rng.uniform(10, 1000, series)[:, None]
    names = [
        f"host_{j:02d}_cpu_percent" if j < 100 else f"m{j:04d}_{('gauge', 'walk', 'mem_bytes', 'total')[k]}"
        for j, k in enumerate(kinds)
    ]
    failure = rows - rows // 8  # 15 minutes before the end of two hours
    hog_start = failure - rows // 12  # 10 minutes before the failure
    j = names.index(HOG)
    values[j] = 20 + rng.normal(0, 2, rows)
    values[j, hog_start:] += 75
    latency = 0.1 + rng.gamma(2.0, 0.01, rows)
    latency[hog_start + int(5 / step) :] += 0.3
    times = np.datetime64(T0.replace(tzinfo=None), "ns") + (np.arange(rows) * step * 1e9).astype("timedelta64[ns]")
    frame = WideFrame(times.view("int64"), [*names, "latency"], np.vstack((values, latency)))
    return frame, failure


def timed(repeat: int, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """The result, the best wall time of ``repeat`` runs, and the peak allocation of one more run."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    fn(*args, **kwargs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, best, peak


def pandas_loop(frame: WideFrame, failure_row: int, sample: int) -> float:
    """Seconds for change point and robust shift column by column with pandas, scaled to every column."""
    table = pd.DataFrame(frame.values[:sample].T, columns=frame.names[:sample])
    n, m = frame.rows, max(2, int(np.ceil(0.05 * frame.rows)))
    k = np.arange(m, n - m + 1)
    start = time.perf_counter()
    for name in table.columns:
        s = table[name]
        cusum = (s - s.mean()).cumsum().to_numpy()[k - 1]
        split = int(k[np.argmax(np.abs(cusum) / np.sqrt(k * (n - k)))])
        cut = min(split, failure_row)
        base, moved = s.iloc[:cut], s.iloc[cut:]
        median = base.median()
        steps = base.diff().abs()
        quantum = steps[steps > 0].median()
        scale = max(1.4826 * (base - median).abs().median(), 0.0 if np.isnan(quantum) else quantum) or 1.0
        _ = (moved.median() - median) / scale, (moved - median).abs().max() / scale
    return (time.perf_counter() - start) * len(frame.names) / sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--step", type=float, default=1.0, help="seconds between rows")
    parser.add_argument("--loop-sample", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = int(args.hours * 3600 / args.step)
    frame, failure = fleet(args.series, rows, args.step, args.seed)
    failure_at = T0 + timedelta(seconds=failure * args.step)
    print(f"{args.series:,} series x {rows:,} rows ({args.hours:g} h at {args.step:g} s), failure at row {failure:,}\n")
    correlate_frame(frame, failure_at, target="latency")  # imports (statsmodels: ~3 s) outside the clock
    plain, seconds, peak = timed(args.repeat, correlate_frame, frame, failure_at)
    targeted, t_seconds, t_peak = timed(args.repeat, correlate_frame, frame, failure_at, target="latency")
    loop = pandas_loop(frame, failure, min(args.loop_sample, args.series))
    prepared = prepare_frame(frame)
    min_size = max(2, int(np.ceil(0.05 * prepared.rows)))
    _, blocks, _ = timed(args.repeat, evidence_in_blocks, prepared.values, min_size, failure)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(f"{'run':<34}{'time':>9}{'peak alloc':>12}  top suspect")
    print(f"{'Sluice, failure signal':<34}{seconds:>8.2f}s{peak / 2**20:>10.0f}MB  {plain.suspects[0].metric}")
    print(f"{'Sluice, --target latency':<34}{t_seconds:>8.2f}s{t_peak / 2**20:>10.0f}MB  {targeted.suspects[0].metric}")
    print(f"{'  of which the same statistics':<34}{blocks:>8.2f}s{'':>12}  change point, shift, peak")
    print(
        f"{'pandas loop over columns':<34}{loop:>8.2f}s{'':>12}  the same statistics (from {args.loop_sample} columns)"
    )
    print(f"\nprocess peak RSS {rss:.2f} GiB")
    print(
        f"correlate scale: {args.series:,} series x {rows:,} rows in {seconds:.2f} s "
        f"({t_seconds:.2f} s with a target); its statistics {blocks:.2f} s vs {loop:.2f} s in a pandas loop "
        f"({loop / blocks:.1f}x); "
        f"peak alloc {max(peak, t_peak) / 2**20:.0f} MB; top suspect {plain.suspects[0].metric}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
