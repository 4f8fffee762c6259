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

* **Sluice**: :func:`ops.baselines.ensemble.score_ensemble`, the detector
  ``ops baseline score`` uses (robust residuals, range novelty and pattern
  novelty, combined). Its candidate settings (:func:`sluice_configs`, the
  product defaults among them) are scored once per file, each part once and
  shared between candidates (:func:`sluice_all`); the folds choose among the
  cached outputs;
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
from ops.baselines.detector import DetectorConfig
from ops.baselines.ensemble import EnsembleConfig, combine, finite, robust_part, score_ensemble
from ops.baselines.spatial import PatternConfig, RangeConfig, pattern_novelty, range_novelty

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


def sluice_configs() -> dict[str, EnsembleConfig]:
    """The candidate settings of ``ops baseline score``'s ensemble (:mod:`ops.baselines.ensemble`), by name.

    A grid over the robust part's ``z_min`` and weight, the range tolerance
    and settling rows, the pattern part (left out, or one of three settings at weight 0.65) and
    the suppression length; plus the robust detector alone with its product
    defaults, so the folds can also choose no ensemble at all. The product
    defaults are the candidate :func:`nabcv.select` picks on the whole corpus.
    """
    alone = EnsembleConfig(DetectorConfig(), robust_weight=1.0, range_weight=0.0, pattern_weight=0.0, suppress_rows=100)
    out = {"robust-only": alone}
    patterns = [(0.0, PatternConfig()), *((0.65, PatternConfig(levels=lv, power=a)) for lv, a in PATTERN_GRID)]
    grid = itertools.product((4.0, 5.0), (0.8, 1.0), (0.02, 0.05), (0.0, 5.0), patterns, (100, 200))
    for z_min, weight, tolerance, settle, (pattern_weight, pattern), rows in grid:
        config = EnsembleConfig(
            robust=replace(DetectorConfig(), z_min=z_min),
            range=RangeConfig(tolerance=tolerance, settle_rows=settle),
            pattern=pattern,
            robust_weight=weight,
            pattern_weight=pattern_weight,
            suppress_rows=rows,
        )
        out[candidate_name(config)] = config
    return out


PATTERN_GRID = ((10, 16.0), (6, 16.0), (6, 4.0))


def candidate_name(config: EnsembleConfig) -> str:
    p = config.pattern
    pattern = f"p{config.pattern_weight:g}L{p.levels}a{p.power:g}" if config.pattern_weight > 0 else "p0"
    return (
        f"z{config.robust.z_min:g}w{config.robust_weight:g}/t{config.range.tolerance:g}g{config.range.settle_rows:g}"
        f"/{pattern}"
        f"/s{config.suppress_rows}"
    )


def sluice_all(timestamps: np.ndarray, values: np.ndarray) -> dict[str, np.ndarray]:
    """Every candidate's scores of one series, each part computed once and shared by the candidates using it."""
    x = finite(values)
    robust: dict[DetectorConfig, np.ndarray] = {}
    ranged: dict[RangeConfig, np.ndarray] = {}
    patterned: dict[PatternConfig, np.ndarray] = {}
    out = {}
    for name, c in SLUICE.items():
        if c.robust not in robust:
            robust[c.robust] = robust_part(timestamps, x, c.robust).score
        if c.range not in ranged:
            ranged[c.range] = range_novelty(x, c.range)
        if c.pattern not in patterned:
            patterned[c.pattern] = pattern_novelty(x, c.pattern)
        out[name] = combine(robust[c.robust], ranged[c.range], patterned[c.pattern], c)
    return out


SLUICE = sluice_configs()
DETECTORS: dict[str, dict[str, Scorer]] = {
    "Sluice": {name: partial(score_ensemble, config=config) for name, config in SLUICE.items()},
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


BATCH: dict[str, Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]] = {"Sluice": sluice_all}


def _score_file(args: tuple[str, np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """Every candidate's scores of one series (shared parts computed once where the detector allows it)."""
    detector, timestamps, values = args
    if detector in BATCH:
        return BATCH[detector](timestamps, values)
    return {c: scorer(timestamps, values) for c, scorer in DETECTORS[detector].items()}


def scoring_seconds(scorer: Scorer, corpus: list[Series]) -> float:
    """Time to score every series with one candidate, one after the other (CSV parsing excluded)."""
    start = time.perf_counter()
    for s in corpus:
        scorer(s.timestamps, s.values)
    return time.perf_counter() - start


def run_detector(detector: str, corpus: list[Series], files: list[nabscore.LabelledFile], jobs: int) -> Run:
    """Score every series with every candidate of one detector once, then cross-validate the choice."""
    tasks = [(detector, s.timestamps, s.values) for s in corpus]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(_score_file, tasks))
    else:
        done = [_score_file(t) for t in tasks]
    outputs = {c: {s.name: d[c] for s, d in zip(corpus, done, strict=True)} for c in DETECTORS[detector]}
    for scores in (a for by_file in outputs.values() for a in by_file.values()):
        scores.flags.writeable = False  # fixed from here on, so the scorer may cache its ranking
    results = [nabcv.cross_validate(files, outputs, p) for p in nabscore.PROFILES]
    chosen = results[0].in_sample.candidate
    return Run(detector, results, scoring_seconds(DETECTORS[detector][chosen], corpus), outputs)


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
    defaults = candidate_name(EnsembleConfig())
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
