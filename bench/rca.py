"""Benchmark: root-cause ranking on labelled faults (``ops correlate --metrics``, offline).

    python bench/rca.py DATA_DIR [--seeds 100]

Every folder under ``DATA_DIR`` holding ``normal.csv`` and ``anomalous.csv`` is
one case; its parent folder is named ``<service>-<cpu|mem>`` and the true root
cause is the column ``<service>_<cpu|mem>``. The two files are joined, and the
failure is the first timestamp of ``anomalous.csv``. Three rankers see the
same columns:

* **Sluice**: :func:`ops.correlate.correlate_frame`, the method behind
  ``ops correlate``, with its default settings for every case;
* **largest |z| jump**: each column's largest ``|x - mean| / std`` after the
  failure, mean and standard deviation taken before it (a zero std counts as 1);
* **random**: a random order, averaged over ``--seeds`` seeds.

It prints each case's rank of the true cause and Sluice's time per case, then
top-1 and top-3 accuracy side by side; the last line is a one-line summary.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ops.correlate import WideFrame, correlate_frame, read_metrics_csv
from ops.metrics.models import from_ns


@dataclass(frozen=True)
class Case:
    name: str
    truth: str
    frame: WideFrame
    failure_row: int


@dataclass(frozen=True)
class Outcome:
    case: str
    truth: str
    rank: int
    top: str
    seconds: float
    z_rank: int


def truth_of(run_dir: Path) -> str:
    """``<service>_<kind>`` from a run folder under ``<service>-<kind>/``."""
    service, _, kind = run_dir.parent.name.rpartition("-")
    return f"{service}_{kind}"


def load_case(run_dir: Path, root: Path) -> Case:
    normal = read_metrics_csv(run_dir / "normal.csv")
    anomalous = read_metrics_csv(run_dir / "anomalous.csv")
    if normal.names != anomalous.names:
        raise SystemExit(f"{run_dir}: normal.csv and anomalous.csv have different columns")
    frame = WideFrame(
        np.concatenate((normal.times, anomalous.times)),
        normal.names,
        np.concatenate((normal.values, anomalous.values), axis=1),
    )
    return Case(run_dir.relative_to(root).as_posix(), truth_of(run_dir), frame, normal.rows)


def load_cases(root: Path) -> list[Case]:
    return [
        load_case(p.parent, root) for p in sorted(root.rglob("normal.csv")) if (p.parent / "anomalous.csv").exists()
    ]


def rank_of(order: list[str], truth: str) -> int:
    return order.index(truth) + 1 if truth in order else len(order) + 1


def z_jump_order(case: Case) -> list[str]:
    """Columns by their largest |z| after the failure (mean and std from before it; a zero std counts as 1,
    as scikit-learn's ``StandardScaler`` has it)."""
    before, after = case.frame.values[:, : case.failure_row], case.frame.values[:, case.failure_row :]
    mean, std = np.nanmean(before, axis=1), np.nanstd(before, axis=1)
    z = np.nanmax(np.abs(after - mean[:, None]), axis=1) / np.where(std > 0, std, 1.0)
    z = np.where(np.isfinite(z), z, 0.0)
    return [case.frame.names[j] for j in np.argsort(-z, kind="stable")]


def random_accuracy(cases: list[Case], seeds: int) -> tuple[float, float]:
    top1 = top3 = 0.0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        ranks = np.array([rank_of(list(rng.permutation(c.frame.names)), c.truth) for c in cases])
        top1, top3 = top1 + (ranks == 1).mean(), top3 + (ranks <= 3).mean()
    return top1 / seeds, top3 / seeds


def run_case(case: Case) -> Outcome:
    failure_at = from_ns(int(case.frame.times[case.failure_row]))
    start = time.perf_counter()
    result = correlate_frame(case.frame, failure_at)
    seconds = time.perf_counter() - start
    order = [s.metric for s in result.suspects]
    return Outcome(
        case.name, case.truth, rank_of(order, case.truth), order[0], seconds, rank_of(z_jump_order(case), case.truth)
    )


def accuracy(ranks: list[int]) -> tuple[float, float]:
    a = np.array(ranks)
    return float((a == 1).mean()), float((a <= 3).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--seeds", type=int, default=100, help="seeds for the random ranker (default 100)")
    args = parser.parse_args(argv)
    cases = load_cases(args.data_dir)
    if not cases:
        print(f"no cases (folders with normal.csv and anomalous.csv) under {args.data_dir}", file=sys.stderr)
        return 2
    print(f"{len(cases)} cases under {args.data_dir}\n")
    print(f"{'case':<28}{'root cause':<20}{'rank':>5}{'|z| rank':>9}{'ms':>8}  top suspect")
    outcomes = [run_case(c) for c in cases]
    for o in outcomes:
        print(f"{o.case:<28}{o.truth:<20}{o.rank:>5}{o.z_rank:>9}{o.seconds * 1000:>8.1f}  {o.top}")
    sluice = accuracy([o.rank for o in outcomes])
    z_jump = accuracy([o.z_rank for o in outcomes])
    rand = random_accuracy(cases, args.seeds)
    print(f"\n{'ranker':<22}{'top-1':>7}{'top-3':>7}")
    for name, (t1, t3) in (("Sluice", sluice), ("largest |z| jump", z_jump), (f"random ({args.seeds} seeds)", rand)):
        print(f"{name:<22}{t1:>7.2f}{t3:>7.2f}")
    per_case = np.mean([o.seconds for o in outcomes]) * 1000
    print(
        f"\nSluice RCA: top-1 {sluice[0]:.2f}, top-3 {sluice[1]:.2f} over {len(cases)} cases "
        f"({per_case:.1f} ms per case); |z| jump {z_jump[0]:.2f}/{z_jump[1]:.2f}; random {rand[0]:.2f}/{rand[1]:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
