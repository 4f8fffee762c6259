"""Benchmark: fitting and evaluating baselines for a fleet, against a per-series statsmodels STL loop.

    python bench/baselines.py [--series 2000] [--days 14] [--stl-sample 20] [--seed 0]

1. Generates ``--series`` synthetic series of ``--days`` days at five-minute
   steps (not timed): a level, a daily wave and/or a weekly business-hours
   pattern (mixed per series), Gaussian noise, and injected anomalies (spikes,
   dips, a level shift in some) in the history; then one more day per series
   for evaluation, with spikes injected at known points.
2. **Fit**: :func:`ops.baselines.fit.fit_many` over the whole fleet in this
   process (one core): seasonality detection, backtested model choice,
   decomposition, robust scale.
3. **Evaluate**: :func:`ops.baselines.evaluate.check_bands` on the extra day
   of every series (288 points each), z = 5.
4. **Per-series STL**: ``statsmodels.tsa.seasonal.STL(values, period=288).fit()``
   in a plain loop, on the first ``--stl-sample`` series of the same data
   (the whole fleet would take many minutes); its rate is series per second
   over that sample.

It prints the fit and evaluation times and series/s, peak RSS of the process,
how many injected evaluation-day spikes the bands caught and how many other
points they flagged, and, last, a one-line summary with the ratio of the fit
rate to the STL loop's rate.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ops.baselines.evaluate import check_bands
from ops.baselines.fit import fit_many
from ops.metrics.models import Series

STEP = 300
DAY_ROWS = 288
START = np.datetime64("2026-03-02T00:00:00", "s")  # a Monday


@dataclass(frozen=True)
class Fleet:
    history: list[Series]
    tomorrow: list[Series]
    spikes: list[np.ndarray]  # injected evaluation-day spike rows, per series


def _shape(rng: np.random.Generator, rows: int, first_row: int) -> tuple[np.ndarray, float]:
    t = first_row + np.arange(rows)
    hour = (t * STEP / 3600) % 24
    day = (t // DAY_ROWS) % 7
    base = rng.uniform(20, 5000)
    kind = rng.integers(0, 4)  # 0 flat, 1 daily, 2 weekly business hours, 3 both
    wave = rng.uniform(0.1, 0.6) * base * np.sin(2 * np.pi * (hour - rng.uniform(0, 24)) / 24) if kind in (1, 3) else 0
    office = rng.uniform(0.2, 0.8) * base * ((day < 5) & (hour >= 8) & (hour < 18)) if kind in (2, 3) else 0
    noise = rng.uniform(0.01, 0.08) * base
    return base + wave + office, noise


def make_fleet(count: int, days: int, seed: int) -> Fleet:
    rng = np.random.default_rng(seed)
    rows = days * DAY_ROWS
    stamps = (START + np.arange(rows + DAY_ROWS) * np.timedelta64(STEP, "s")).astype("datetime64[ns]")
    history, tomorrow, spikes = [], [], []
    for i in range(count):
        clean, noise = _shape(rng, rows + DAY_ROWS, 0)
        values = clean + rng.normal(0, noise, rows + DAY_ROWS)
        past = rng.choice(rows, 8, replace=False)
        values[past] += rng.choice([-1, 1], 8) * rng.uniform(8, 20, 8) * noise  # training anomalies
        if rng.random() < 0.2:
            values[rng.integers(rows // 2, rows - DAY_ROWS) :] += rng.uniform(5, 10) * noise  # a lasting level shift
        hits = rows + rng.choice(DAY_ROWS, 3, replace=False)
        values[hits] += rng.uniform(12, 25, 3) * noise
        labels = {"series": str(i)}
        history.append(Series("bench_metric", labels, stamps[:rows], values[:rows]))
        tomorrow.append(Series("bench_metric", labels, stamps[rows:], values[rows:]))
        spikes.append(np.sort(hits - rows))
    return Fleet(history, tomorrow, spikes)


def stl_loop(fleet: list[Series]) -> float:
    from statsmodels.tsa.seasonal import STL

    start = time.perf_counter()
    for s in fleet:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            STL(s.values, period=DAY_ROWS).fit()
    return time.perf_counter() - start


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--stl-sample", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    fleet = make_fleet(args.series, args.days, args.seed)
    points = sum(len(s) for s in fleet.history)
    print(
        f"{args.series:,} series x {args.days} days at 5 min = {points:,} points; peak RSS after generation "
        f"{peak_rss_gib():.2f} GiB"
    )

    import statsmodels.tsa.stattools  # noqa: F401  # import cost is not fit cost

    start = time.perf_counter()
    result = fit_many(fleet.history)
    fit_s = time.perf_counter() - start
    models: dict[str, int] = {}
    for b in result.baselines:
        models[b.model] = models.get(b.model, 0) + 1
    print(
        f"fit: {fit_s:.2f} s, {args.series / fit_s:,.0f} series/s; models {dict(sorted(models.items()))}; "
        f"rejected {len(result.rejected)}"
    )

    by_key = {b.key: b for b in result.baselines}
    pairs = [by_key[f"{s.metric}{s.key}"] for s in fleet.tomorrow]
    start = time.perf_counter()
    checks = check_bands(pairs, fleet.tomorrow, z=5.0)
    eval_s = time.perf_counter() - start
    flagged = [(np.flatnonzero(c.outside()), hits) for c, hits in zip(checks, fleet.spikes, strict=True)]
    caught = sum(np.isin(hits, outside).sum() for outside, hits in flagged)
    other = sum(len(np.setdiff1d(outside, hits)) for outside, hits in flagged)
    injected = sum(len(h) for h in fleet.spikes)
    print(
        f"evaluate: {eval_s * 1000:.1f} ms, {args.series / eval_s:,.0f} series/s; spikes caught "
        f"{caught}/{injected}; other points flagged {other:,} of {args.series * DAY_ROWS:,}"
    )

    sample = fleet.history[: args.stl_sample]
    stl_s = stl_loop(sample)
    stl_rate = len(sample) / stl_s
    print(f"per-series STL (period 288) on {len(sample)} series: {stl_s:.2f} s, {stl_rate:.2f} series/s")
    fit_rate, eval_rate = args.series / fit_s, args.series / eval_s
    print(
        f"ratio fit/stl={fit_rate / stl_rate:,.0f}x fit={fit_rate:,.0f} series/s eval={eval_rate:,.0f} series/s "
        f"peak_rss={peak_rss_gib():.2f}GiB series={args.series:,} targets fit>=100 eval>=10000 "
        f"met={'yes' if fit_rate >= 100 and eval_rate >= 10_000 else 'no'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
