"""Benchmark: the Sluice anomaly detector on a Numenta Anomaly Benchmark corpus.

    python bench/nab.py DATA_DIR WINDOWS_JSON [--jobs N] [--per-file]

Every CSV under ``DATA_DIR`` (columns ``timestamp,value``) is scored, row by
row and causally, by three detectors, and each detector's scores are then
scored with the NAB rules (:mod:`nabscore`, one optimal threshold per profile
for the whole corpus):

* **Sluice**: :func:`ops.baselines.detector.score_series`, the detector the
  dynamic thresholds use, with its default settings for every file;
* **Windowed Gaussian**: mean and standard deviation of the previous 6,400
  rows; the score is ``1 - P(|Z| >= |z|)`` for a normal ``Z``;
* **Static threshold**: the 1st and 99th percentiles of the file's first 750
  rows (of the rows seen so far while fewer have arrived); the score grows
  with the distance outside that band, relative to its width.

The table gives, per detector, the normalised score of each profile and the
scoring speed (files and rows per second of wall time, CSV parsing excluded).
The last line is a one-line summary of the Sluice scores.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import erf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import nabscore
from ops.baselines.detector import score_series

GAUSSIAN_WINDOW = 6400
STATIC_TRAINING_ROWS = 750


def windowed_gaussian(timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Two-sided normal tail score against the trailing window's mean and standard deviation."""
    past = pd.Series(values, dtype=float).rolling(GAUSSIAN_WINDOW, min_periods=2)
    mean = past.mean().shift(1).to_numpy()
    std = past.std().shift(1).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(values - mean) / std
    z = np.where(np.isfinite(z), z, np.where(np.abs(values - mean) > 0, np.inf, 0.0))
    return np.nan_to_num(erf(z / np.sqrt(2.0)), nan=0.0)


def static_threshold(timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Distance outside the training band [p1, p99], as ``d / (1 + d)`` in band widths."""
    if len(values) == 0:
        return np.empty(0)
    head = pd.Series(values[: STATIC_TRAINING_ROWS + 1], dtype=float)  # training rows, plus one
    lo = np.full(len(values), np.nan)
    hi = np.full(len(values), np.nan)
    lo[: len(head)] = head.expanding(min_periods=10).quantile(0.01).shift(1).to_numpy()
    hi[: len(head)] = head.expanding(min_periods=10).quantile(0.99).shift(1).to_numpy()
    lo[len(head) :], hi[len(head) :] = lo[len(head) - 1], hi[len(head) - 1]  # frozen after training
    width = np.fmax(hi - lo, 1e-9 * (1.0 + np.abs(hi)))
    out = np.fmax(values - hi, lo - values) / width
    out = np.where(np.isfinite(out), np.maximum(out, 0.0), 0.0)
    return out / (1.0 + out)


DETECTORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Sluice": score_series,
    "Windowed Gaussian": windowed_gaussian,
    "Static threshold": static_threshold,
}


@dataclass(frozen=True)
class Series:
    name: str
    timestamps: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Run:
    detector: str
    results: list[nabscore.ProfileResult]
    seconds: float
    scores: dict[str, np.ndarray]


def load_corpus(data_dir: Path, windows_json: Path) -> tuple[list[Series], list[nabscore.LabelledFile]]:
    """Every CSV under ``data_dir`` with its labelled windows (none when the file is not listed)."""
    windows = nabscore.load_windows(windows_json)
    series, files = [], []
    for path in sorted(data_dir.rglob("*.csv")):
        name = path.relative_to(data_dir).as_posix()
        if name not in windows:
            print(f"warning: {name} is not in {windows_json.name}; scored with no windows", file=sys.stderr)
        frame = pd.read_csv(path)
        ts = pd.to_datetime(frame["timestamp"]).to_numpy("datetime64[ns]")
        series.append(Series(name, ts, frame["value"].to_numpy(float)))
        files.append(nabscore.labelled_file(name, ts, windows.get(name, [])))
    return series, files


def _score_one(args: tuple[str, np.ndarray, np.ndarray]) -> np.ndarray:
    detector, timestamps, values = args
    return DETECTORS[detector](timestamps, values)


def run_detector(detector: str, corpus: list[Series], files: list[nabscore.LabelledFile], jobs: int) -> Run:
    """Score every series with one detector (timed), then the scores with the NAB rules."""
    tasks = [(detector, s.timestamps, s.values) for s in corpus]
    start = time.perf_counter()
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            pool.submit(int, 0).result()  # workers up before the clock matters
            start = time.perf_counter()
            outputs = list(pool.map(_score_one, tasks, chunksize=max(1, len(tasks) // (4 * jobs))))
    else:
        outputs = [_score_one(t) for t in tasks]
    elapsed = time.perf_counter() - start
    scores = {s.name: out for s, out in zip(corpus, outputs, strict=True)}
    return Run(detector, nabscore.score_corpus(files, scores), elapsed, scores)


def print_table(runs: list[Run], files: int, rows: int) -> None:
    names = [p.name for p in nabscore.PROFILES]
    print(f"{'detector':<20}" + "".join(f"{n:>15}" for n in names) + f"{'files/s':>10}{'rows/s':>12}")
    for run in runs:
        cells = "".join(f"{r.normalized:>15.1f}" for r in run.results)
        print(f"{run.detector:<20}{cells}{files / run.seconds:>10.1f}{rows / run.seconds:>12,.0f}")


def print_details(runs: list[Run]) -> None:
    print("\nthreshold per profile (windows detected / missed, false positives):")
    for run in runs:
        parts = [
            f"{r.profile.name} {r.best.threshold:.4f} ({r.best.detected}/{r.best.missed}, {r.best.false_positives})"
            for r in run.results
        ]
        print(f"  {run.detector:<18} " + "; ".join(parts))


def print_per_file(run: Run, files: list[nabscore.LabelledFile]) -> None:
    profile = nabscore.STANDARD
    threshold = run.results[0].best.threshold
    print(f"\n{run.detector}, Standard profile, per file at threshold {threshold:.4f}:")
    for f in files:
        raw = nabscore.file_score(f, run.scores[f.name], threshold, profile)
        print(f"  {f.name:<60} windows={len(f.windows)}  raw={raw:+.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("windows_json", type=Path)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes for scoring (default 1)")
    parser.add_argument("--per-file", action="store_true", help="also print each file's raw Standard score")
    args = parser.parse_args(argv)

    corpus, files = load_corpus(args.data_dir, args.windows_json)
    if not corpus:
        print(f"no CSV files under {args.data_dir}", file=sys.stderr)
        return 2
    rows = sum(len(s.values) for s in corpus)
    windows = sum(len(f.windows) for f in files)
    print(f"NAB corpus {args.data_dir}: {len(corpus)} files, {rows:,} rows, {windows} windows; jobs={args.jobs}\n")
    runs = [run_detector(name, corpus, files, args.jobs) for name in DETECTORS]
    print_table(runs, len(corpus), rows)
    print_details(runs)
    if args.per_file:
        print_per_file(runs[0], files)
    sluice = runs[0].results
    print(
        "\nSluice NAB: "
        + ", ".join(f"{r.profile.name} {r.normalized:.1f}" for r in sluice)
        + f" ({len(corpus)} files, {len(corpus) / runs[0].seconds:.1f} files/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
