"""Benchmark: the Sluice anomaly detector on a Numenta Anomaly Benchmark corpus.

    python bench/nab.py CORPUS [WINDOWS_JSON] [--jobs N] [--per-file]

``CORPUS`` is a NAB folder holding ``data/`` and ``windows.json`` (or a data
folder, with ``WINDOWS_JSON`` given). Every CSV under it (columns
``timestamp,value``, grouped by category folder) is scored, row by row and
causally, by three detectors, and each detector's scores are then scored with
the NAB rules (:mod:`nabscore`, one threshold per profile for the whole
corpus), twice (:mod:`nabcv`):

* **in-sample**: settings and threshold chosen on every file, scored on them;
* **out-of-fold**: leave one category out; settings and threshold chosen on
  the other categories only, the held-out category's detections scored; all
  held-out detections then scored together as one corpus.

The detectors:

* **Sluice**: :func:`ops.baselines.detector.score_series`, the detector the
  dynamic thresholds and ``ops baseline score`` use. Its candidate settings
  (:data:`CANDIDATES`, the product defaults among them) are scored once per
  file; the folds choose among the cached outputs;
* **Windowed Gaussian**: mean and standard deviation of the previous 6,400
  rows; the score is ``1 - P(|Z| >= |z|)`` for a normal ``Z``;
* **Static threshold**: the 1st and 99th percentiles of the file's first 750
  rows (of the rows seen so far while fewer have arrived); the score grows
  with the distance outside that band, relative to its width.

The table gives, per detector and profile, the in-sample and out-of-fold
normalised scores, and the scoring speed of the settings chosen in-sample
(files and rows per second of scoring time, CSV parsing excluded). A line
says whether the product defaults are the in-sample choice, and what they
score when held fixed (only the threshold chosen out of fold). The last line is a
one-line summary of the Sluice Standard scores.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import erf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import nabcv, nabscore
from ops.baselines.detector import DetectorConfig, score_series

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


Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def sluice_candidates() -> dict[str, Scorer]:
    """The detector's candidate settings: ``z_min``, ``novelty_window`` and ``suppress_rows`` on a small grid.

    The product defaults are the candidate that :func:`nabcv.select` picks on
    the whole development corpus; every other setting keeps its default.
    """
    default = DetectorConfig()
    out: dict[str, Scorer] = {}
    for z_min, novelty, suppress in itertools.product((3.0, 4.0), (500, 1000), (0, 100, 200)):
        config = replace(default, z_min=z_min, novelty_window=novelty, suppress_rows=suppress)
        out[candidate_name(config)] = partial(score_series, config=config)
    return out


def candidate_name(config: DetectorConfig) -> str:
    return f"z{config.z_min:g}/n{config.novelty_window}/s{config.suppress_rows}"


DETECTORS: dict[str, dict[str, Scorer]] = {
    "Sluice": sluice_candidates(),
    "Windowed Gaussian": {"fixed": windowed_gaussian},
    "Static threshold": {"fixed": static_threshold},
}


@dataclass(frozen=True)
class Series:
    name: str
    timestamps: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Run:
    detector: str
    results: list[nabcv.CvResult]
    seconds: float  # scoring every file with the candidate chosen in-sample (Standard profile)
    outputs: nabcv.Outputs


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


def _score_one(args: tuple[str, str, np.ndarray, np.ndarray]) -> tuple[np.ndarray, float]:
    detector, candidate, timestamps, values = args
    start = time.perf_counter()
    scores = DETECTORS[detector][candidate](timestamps, values)
    return scores, time.perf_counter() - start


def run_detector(detector: str, corpus: list[Series], files: list[nabscore.LabelledFile], jobs: int) -> Run:
    """Score every series with every candidate of one detector once, then cross-validate the choice."""
    candidates = list(DETECTORS[detector])
    tasks = [(detector, c, s.timestamps, s.values) for c in candidates for s in corpus]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(_score_one, tasks, chunksize=max(1, len(tasks) // (4 * jobs))))
    else:
        done = [_score_one(t) for t in tasks]
    outputs: dict[str, dict[str, np.ndarray]] = {c: {} for c in candidates}
    for (_, c, _, _), s, (scores, _) in zip(tasks, [s for _ in candidates for s in corpus], done, strict=True):
        outputs[c][s.name] = scores
    results = [nabcv.cross_validate(files, outputs, p) for p in nabscore.PROFILES]
    chosen = results[0].in_sample.candidate
    seconds = sum(t for (_, c, _, _), (_, t) in zip(tasks, done, strict=True) if c == chosen)
    return Run(detector, results, seconds, outputs)


def print_table(runs: list[Run], files: int, rows: int) -> None:
    names = [p.name for p in nabscore.PROFILES]
    print(f"{'':<20}" + "".join(f"{n:>18}" for n in names))
    print(f"{'detector':<20}" + f"{'in-sample  o-o-f':>18}" * len(names) + f"{'files/s':>10}{'rows/s':>12}")
    for run in runs:
        cells = "".join(f"{r.in_sample.normalized:>11.1f}{r.out_of_fold:>7.1f}" for r in run.results)
        print(f"{run.detector:<20}{cells}{files / run.seconds:>10.1f}{rows / run.seconds:>12,.0f}")


def print_details(runs: list[Run]) -> None:
    print("\nStandard profile, choice per held-out category (settings, threshold, score on the other categories):")
    for run in runs:
        standard = run.results[0]
        print(f"  {run.detector}: in-sample {standard.in_sample.candidate} at {standard.in_sample.threshold:.4f}")
        for fold in standard.folds:
            c = fold.choice
            held = f"{fold.held_out:<24} {fold.files:>3} files"
            print(f"    {held}  {c.candidate:<16} {c.threshold:.4f}  {c.normalized:5.1f}")


def print_per_file(run: Run, files: list[nabscore.LabelledFile]) -> None:
    profile = nabscore.STANDARD
    choice = run.results[0].in_sample
    print(f"\n{run.detector} {choice.candidate}, Standard profile, per file at threshold {choice.threshold:.4f}:")
    for f in files:
        raw = nabscore.file_score(f, run.outputs[choice.candidate][f.name], choice.threshold, profile)
        print(f"  {f.name:<60} windows={len(f.windows)}  raw={raw:+.2f}")


def corpus_paths(corpus: Path, windows_json: Path | None) -> tuple[Path, Path]:
    """The data folder and windows file of a NAB folder (``data/`` and ``windows.json`` inside it)."""
    if windows_json is not None:
        return corpus, windows_json
    return (corpus / "data" if (corpus / "data").is_dir() else corpus), corpus / "windows.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="NAB folder with data/ and windows.json, or a data folder")
    parser.add_argument("windows_json", type=Path, nargs="?", help="windows file (default CORPUS/windows.json)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes for scoring (default 1)")
    parser.add_argument("--per-file", action="store_true", help="also print each file's raw Standard score")
    args = parser.parse_args(argv)

    data_dir, windows_json = corpus_paths(args.corpus, args.windows_json)
    if not windows_json.is_file():
        print(f"no windows file {windows_json}", file=sys.stderr)
        return 2
    corpus, files = load_corpus(data_dir, windows_json)
    if not corpus:
        print(f"no CSV files under {data_dir}", file=sys.stderr)
        return 2
    rows = sum(len(s.values) for s in corpus)
    windows = sum(len(f.windows) for f in files)
    print(f"NAB corpus {data_dir}: {len(corpus)} files, {rows:,} rows, {windows} windows; jobs={args.jobs}")
    categories = len({nabcv.category(f.name) for f in files})
    print(f"Sluice candidate settings: {len(DETECTORS['Sluice'])}; categories: {categories}\n")
    runs = [run_detector(name, corpus, files, args.jobs) for name in DETECTORS]
    print_table(runs, len(corpus), rows)
    print_details(runs)
    if args.per_file:
        print_per_file(runs[0], files)
    standard = runs[0].results[0]
    defaults = candidate_name(DetectorConfig())
    chosen = standard.in_sample.candidate
    print(f"\nproduct defaults {defaults}: " + ("the in-sample choice" if defaults == chosen else f"not {chosen}"))
    if defaults in runs[0].outputs:
        fixed = nabcv.cross_validate(files, {defaults: runs[0].outputs[defaults]}, nabscore.STANDARD)
        print(
            f"product defaults held fixed, threshold only chosen out of fold: Standard in-sample "
            f"{fixed.in_sample.normalized:.1f}, out-of-fold {fixed.out_of_fold:.1f}"
        )
    print(
        f"Sluice NAB Standard: in-sample {standard.in_sample.normalized:.1f}, out-of-fold {standard.out_of_fold:.1f}"
        f" (gap {standard.gap:.1f}; {len(corpus)} files, {len(corpus) / runs[0].seconds:.1f} files/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
