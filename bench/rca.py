"""Benchmark: root-cause ranking on labelled faults (``ops correlate --metrics``, offline).

    python bench/rca.py DATA_DIR [--seeds 100] [--scale-series 1000]
    python bench/rca.py --synthetic [--per-kind 40]

Every folder under ``DATA_DIR`` holding ``normal.csv`` and ``anomalous.csv`` is
one case; its parent folder is named ``<service>-<cpu|mem>`` and the true root
cause is the column ``<service>_<cpu|mem>``. The two files are joined, and the
failure is the first timestamp of ``anomalous.csv``. ``--synthetic``
generates hard cases instead (:mod:`bench.rca_synthetic`: one-minute
sampling, short histories, an earlier incident, sparse latencies; CPU, memory
and network-delay faults) and scores the root-cause *service*. The rankers
see the same columns:

* **Sluice**: :func:`ops.correlate.correlate_frame`, the method behind
  ``ops correlate``, in-sample with its default settings, and out of fold:
  for each fault folder (synthetic: each fault kind), the settings of
  :data:`GRID` that rank best on the *other* folders are chosen and scored on
  the held-out one;
* **largest robust-z jump**: each column's largest ``|x - median| / (1.4826 MAD)``
  after the failure, median and MAD from before it (a zero MAD falls back to
  the standard deviation, then to 1);
* **largest |z| jump**: the same with mean and standard deviation;
* **random**: a random order, averaged over ``--seeds`` seeds.

It prints each case's rank of the true cause, top-1 and top-3 accuracy side
by side (per fault kind with ``--synthetic``), and the time of one
:func:`correlate_frame` over ``--scale-series`` series of two hours at one
row a second (:func:`bench.correlate_scale.fleet`); the last line is a
one-line summary.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.correlate_scale import fleet
from bench.rca_synthetic import synthetic_cases
from ops.correlate import CorrelateConfig, WideFrame, correlate_frame, read_metrics_csv
from ops.correlate.resources import service_of
from ops.metrics.models import from_ns

GRID: dict[str, CorrelateConfig] = {
    "default": CorrelateConfig(),
    "no onset weight": CorrelateConfig(leading_weight=1.0),
    "no symptom weight": CorrelateConfig(symptom_weight=1.0),
    "symptom weight 0.25": CorrelateConfig(symptom_weight=0.25),
    "onset weight 0.1": CorrelateConfig(leading_weight=0.1),
    "z cap 1000": CorrelateConfig(z_cap=1000.0),
    "z cap 100": CorrelateConfig(z_cap=100.0),
    "no origin weight": CorrelateConfig(origin_power=0.0),
    "origin power 0.5": CorrelateConfig(origin_power=0.5),
    "lagging weight 1": CorrelateConfig(lagging_weight=1.0),
    "lagging weight 0.5": CorrelateConfig(lagging_weight=0.5),
    "lagging weight 0.1": CorrelateConfig(lagging_weight=0.1),
}
"""The settings the out-of-fold procedure chooses from (the first wins ties)."""


@dataclass(frozen=True)
class Case:
    name: str
    truth: str
    frame: WideFrame
    failure_row: int
    group: str
    by_service: bool = False


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
    name = run_dir.relative_to(root).as_posix()
    return Case(name, truth_of(run_dir), frame, normal.rows, run_dir.parent.relative_to(root).as_posix())


def load_cases(root: Path) -> list[Case]:
    return [
        load_case(p.parent, root) for p in sorted(root.rglob("normal.csv")) if (p.parent / "anomalous.csv").exists()
    ]


def generated_cases(per_kind: int) -> list[Case]:
    return [Case(c.name, c.service, c.frame, c.failure_row, c.kind, by_service=True) for c in synthetic_cases(per_kind)]


def rank_of(order: list[str], case: Case) -> int:
    """The true cause's place in ``order`` (of metrics); by service, each service counts at its first metric."""
    if case.by_service:
        order = list(dict.fromkeys(service_of(m) for m in order))
    return order.index(case.truth) + 1 if case.truth in order else len(order) + 1


def _jump_order(case: Case, centre: np.ndarray, scale: np.ndarray) -> list[str]:
    after = case.frame.values[:, case.failure_row :]
    z = np.nanmax(np.abs(after - centre[:, None]), axis=1) / scale
    z = np.where(np.isfinite(z), z, 0.0)
    return [case.frame.names[j] for j in np.argsort(-z, kind="stable")]


def z_jump_order(case: Case) -> list[str]:
    """Columns by their largest |z| after the failure (mean and std from before it; a zero std counts as 1,
    as scikit-learn's ``StandardScaler`` has it)."""
    before = case.frame.values[:, : case.failure_row]
    std = np.nanstd(before, axis=1)
    return _jump_order(case, np.nanmean(before, axis=1), np.where(std > 0, std, 1.0))


def robust_jump_order(case: Case) -> list[str]:
    """Columns by their largest robust z after the failure: median and 1.4826 MAD from before it
    (a zero MAD falls back to the standard deviation, then to 1)."""
    before = case.frame.values[:, : case.failure_row]
    median = np.nanmedian(before, axis=1)
    mad = 1.4826 * np.nanmedian(np.abs(before - median[:, None]), axis=1)
    std = np.nanstd(before, axis=1)
    return _jump_order(case, median, np.where(mad > 0, mad, np.where(std > 0, std, 1.0)))


def random_accuracy(cases: list[Case], seeds: int) -> tuple[float, float]:
    top1 = top3 = 0.0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        ranks = np.array([rank_of(list(rng.permutation(c.frame.names)), c) for c in cases])
        top1, top3 = top1 + (ranks == 1).mean(), top3 + (ranks <= 3).mean()
    return top1 / seeds, top3 / seeds


def sluice_ranks(case: Case) -> dict[str, tuple[int, str]]:
    """The true cause's rank and the top suspect under every setting of :data:`GRID`."""
    failure_at = from_ns(int(case.frame.times[case.failure_row]))
    found = {}
    for name, config in GRID.items():
        order = [s.metric for s in correlate_frame(case.frame, failure_at, config=config).suspects]
        found[name] = (rank_of(order, case), order[0])
    return found


def accuracy(ranks: list[int]) -> tuple[float, float]:
    if not ranks:
        return 0.0, 0.0
    a = np.array(ranks)
    return float((a == 1).mean()), float((a <= 3).mean())


def out_of_fold(cases: list[Case], ranks: list[dict[str, tuple[int, str]]]) -> tuple[list[int], dict[str, str]]:
    """Leave one group out: the setting best on the other groups (top-1, then top-3) ranks the held-out one."""
    chosen: dict[str, str] = {}
    held_out = [0] * len(cases)
    for group in dict.fromkeys(c.group for c in cases):
        train = [r for c, r in zip(cases, ranks, strict=True) if c.group != group]
        best = max(GRID, key=lambda n: accuracy([r[n][0] for r in train]))
        chosen[group] = best
        for i, c in enumerate(cases):
            if c.group == group:
                held_out[i] = ranks[i][best][0]
    return held_out, chosen


@dataclass(frozen=True)
class Scores:
    """Every ranker's rank of the true cause, case by case."""

    in_sample: list[int]
    oof: list[int]
    robust: list[int]
    z_jump: list[int]
    chosen: dict[str, str]


def score(cases: list[Case]) -> tuple[Scores, list[dict[str, tuple[int, str]]]]:
    ranks = [sluice_ranks(c) for c in cases]
    oof, chosen = out_of_fold(cases, ranks)
    robust = [rank_of(robust_jump_order(c), c) for c in cases]
    z_jump = [rank_of(z_jump_order(c), c) for c in cases]
    best = max(GRID, key=lambda n: accuracy([r[n][0] for r in ranks]))
    chosen["all (in-sample)"] = best
    return Scores([r[best][0] for r in ranks], oof, robust, z_jump, chosen), ranks


def print_cases(cases: list[Case], scores: Scores, ranks: list[dict[str, tuple[int, str]]]) -> None:
    print(f"{'case':<28}{'root cause':<16}{'rank':>5}{'oof':>5}{'rz':>5}{'|z|':>5}  top suspect")
    for i, c in enumerate(cases):
        print(
            f"{c.name:<28}{c.truth:<16}{scores.in_sample[i]:>5}{scores.oof[i]:>5}{scores.robust[i]:>5}"
            f"{scores.z_jump[i]:>5}  {ranks[i]['default'][1]}"
        )


def print_table(title: str, scores: Scores, keep: list[bool], rand: tuple[float, float] | None) -> None:
    rows = [
        ("Sluice, in-sample", scores.in_sample),
        ("Sluice, out-of-fold", scores.oof),
        ("largest robust-z jump", scores.robust),
        ("largest |z| jump", scores.z_jump),
    ]
    print(f"\n{title:<26}{'top-1':>7}{'top-3':>7}")
    for name, ranks in rows:
        t1, t3 = accuracy([r for r, k in zip(ranks, keep, strict=True) if k])
        print(f"{name:<26}{t1:>7.2f}{t3:>7.2f}")
    if rand is not None:
        print(f"{'random':<26}{rand[0]:>7.2f}{rand[1]:>7.2f}")


def time_scale(series: int) -> tuple[float, float]:
    """Wall and CPU seconds of one :func:`correlate_frame` over ``series`` series, two hours at one row a
    second (the best of three runs)."""
    frame, failure = fleet(series, 7200, 1.0, 0)
    failure_at = from_ns(int(frame.times[failure]))
    best = (float("inf"), float("inf"))
    for _ in range(3):  # best of three: the machine may be shared
        start, cpu = time.perf_counter(), time.process_time()
        correlate_frame(frame, failure_at)
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, nargs="?")
    parser.add_argument("--synthetic", action="store_true", help="generated hard cases instead of DATA_DIR")
    parser.add_argument("--per-kind", type=int, default=40, help="generated cases per fault kind (default 40)")
    parser.add_argument("--seeds", type=int, default=100, help="seeds for the random ranker (default 100)")
    parser.add_argument("--scale-series", type=int, default=1000, help="series in the timing run (0: none)")
    args = parser.parse_args(argv)
    if args.synthetic == (args.data_dir is not None):
        parser.error("give DATA_DIR or --synthetic, not both")
    cases = generated_cases(args.per_kind) if args.synthetic else load_cases(args.data_dir)
    if not cases:
        print(f"no cases (folders with normal.csv and anomalous.csv) under {args.data_dir}", file=sys.stderr)
        return 2
    print(f"{len(cases)} cases {'generated' if args.synthetic else f'under {args.data_dir}'}\n")
    scores, ranks = score(cases)
    print_cases(cases, scores, ranks)
    everything = [True] * len(cases)
    print_table("all cases", scores, everything, random_accuracy(cases, args.seeds))
    if args.synthetic:
        for kind in dict.fromkeys(c.group for c in cases):
            print_table(f"fault kind {kind}", scores, [c.group == kind for c in cases], None)
    print("\nsettings chosen out of fold:", ", ".join(f"{g}: {n}" for g, n in scores.chosen.items()))
    seconds, cpu = time_scale(args.scale_series) if args.scale_series else (float("nan"), float("nan"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    ins, oof = accuracy(scores.in_sample), accuracy(scores.oof)
    rz, zj = accuracy(scores.robust), accuracy(scores.z_jump)
    print(f"{args.scale_series} series x 7200 rows: {seconds:.2f} s ({cpu:.2f} s CPU); peak RSS {peak:.2f} GiB")
    print(
        f"\nSluice RCA: top-1 {ins[0]:.2f}, top-3 {ins[1]:.2f} in-sample, {oof[0]:.2f}/{oof[1]:.2f} out-of-fold "
        f"over {len(cases)} cases; robust-z jump {rz[0]:.2f}/{rz[1]:.2f}; |z| jump {zj[0]:.2f}/{zj[1]:.2f}; "
        f"{args.scale_series} series in {seconds:.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
