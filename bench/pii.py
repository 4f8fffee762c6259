"""PII discovery: precision and recall per class on generated data, in-sample against held-out seeds, and scan speed.

    .venv/bin/python bench/pii.py [--train-seeds 20] [--held-out-seeds 10] [--rows 1000] [--speed-rows 200000]
    .venv/bin/python bench/pii.py --build-lexicon   # rewrite sluice/governance/names/*.txt from Faker

1. Builds the labelled corpus (``tests/sluice/governance/corpus.py``) for
   training seeds ``0..N-1`` and held-out seeds ``1000..``: per seed the demo
   orders and customers, a table of phones, IBANs, cards, IPs, national ids
   and names from locales the name lists were not built from, and decoys.
2. Cross-validation of the proposal threshold: 5 folds over the training
   seeds; each fold's threshold maximises the macro F1 on the other four.
   Prints the thresholds, and precision/recall per class in-sample (on the
   folds that chose) and out-of-fold (on the fold left out), side by side.
3. The shipped ``THRESHOLD`` on the training seeds and on the held-out
   seeds, which no choice has seen; the regex-only baseline (a plain
   ``str.contains`` per class, no checksum, no word lists) beside it.
4. Scan speed: rows/s of :func:`sluice.governance.detectors.confidences`
   over every class against the ``str.contains`` baseline, on a customers
   sample of ``--speed-rows`` rows.

A class is judged per column: a column is a true positive of a class when
its label is that class and the scan proposes it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sluice.governance.classes import PiiClass
from sluice.governance.detectors import ColumnEvidence, confidences
from sluice.governance.pii import THRESHOLD, propose
from tests.sluice.governance.corpus import corpus

GRID = tuple(round(float(x), 2) for x in np.arange(0.05, 0.96, 0.05))
FOLDS = 5
HELD_OUT_FIRST_SEED = 1000

# The baseline: one plain regular expression per class, searched anywhere in the value.
BASELINE = {
    PiiClass.EMAIL: r"[\w.+-]+@[\w-]+\.[\w.]+",
    PiiClass.PHONE: r"\+?\d[\d \-()]{7,}\d",
    PiiClass.IBAN: r"[A-Z]{2}\d{2}[A-Z0-9 ]{11,30}",
    PiiClass.CARD: r"\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,4}",
    PiiClass.IP: r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{0,4}){2,7}",
    PiiClass.NATIONAL_ID: r"\d{3}-\d{2}-\d{4}|\d{9,11}|\d{8}[A-Z]",
    PiiClass.PERSON_NAME: r"^[A-Z][a-z]+ [A-Z][a-z]+$",
}


@dataclass(frozen=True)
class Record:
    seed: int
    column: str
    label: PiiClass | None
    evidence: ColumnEvidence


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def baseline_evidence(values: pa.Array) -> ColumnEvidence:
    series = pd.Series(values.to_pylist(), dtype="object").dropna().astype(str).str.strip()
    series = series[series != ""]
    if series.empty:
        return ColumnEvidence(0, {})
    found = {cls: float(series.str.contains(p, regex=True).mean()) for cls, p in BASELINE.items()}
    return ColumnEvidence(len(series), {c: v for c, v in found.items() if v > 0})


def records(seeds: Sequence[int], rows: int, scan: Callable[[pa.Array], ColumnEvidence] = confidences) -> list[Record]:
    return [Record(seed, f"{c.table}.{c.name}", c.label, scan(c.values)) for seed in seeds for c in corpus(seed, rows)]


def scores(found: Sequence[Record], threshold: float) -> dict[PiiClass, Score]:
    proposed = [propose(r.evidence, threshold)[0] for r in found]
    result = {}
    for cls in PiiClass:
        tp = sum(p is cls and r.label is cls for p, r in zip(proposed, found, strict=True))
        fp = sum(p is cls and r.label is not cls for p, r in zip(proposed, found, strict=True))
        fn = sum(p is not cls and r.label is cls for p, r in zip(proposed, found, strict=True))
        result[cls] = Score(tp, fp, fn)
    return result


def macro_f1(found: Sequence[Record], threshold: float) -> float:
    return float(np.mean([s.f1 for s in scores(found, threshold).values()]))


def choose_threshold(found: Sequence[Record]) -> float:
    """The grid threshold of the highest macro F1; of a plateau of equals, its middle."""
    f1 = np.array([macro_f1(found, t) for t in GRID])
    best = np.flatnonzero(np.isclose(f1, f1.max()))
    return float(GRID[int(best[len(best) // 2])])


def cross_validate(found: Sequence[Record]) -> tuple[list[float], dict[PiiClass, Score], dict[PiiClass, Score]]:
    """Thresholds chosen per fold, and the summed scores in-sample and out-of-fold."""
    seeds = sorted({r.seed for r in found})
    folds = [seeds[i::FOLDS] for i in range(FOLDS)]
    chosen, inside, outside = [], [], []
    for fold in folds:
        train = [r for r in found if r.seed not in fold]
        test = [r for r in found if r.seed in fold]
        threshold = choose_threshold(train)
        chosen.append(threshold)
        inside.append(scores(train, threshold))
        outside.append(scores(test, threshold))
    return chosen, _summed(inside), _summed(outside)


def _summed(parts: list[dict[PiiClass, Score]]) -> dict[PiiClass, Score]:
    return {
        cls: Score(sum(p[cls].tp for p in parts), sum(p[cls].fp for p in parts), sum(p[cls].fn for p in parts))
        for cls in PiiClass
    }


def print_side_by_side(titles: tuple[str, str], left: dict[PiiClass, Score], right: dict[PiiClass, Score]) -> None:
    print(f"{'class':<12} | {titles[0]:^27} | {titles[1]:^27}")
    print(f"{'':<12} | {'precision':>9} {'recall':>7} {'cols':>9} | {'precision':>9} {'recall':>7} {'cols':>9}")
    for cls in PiiClass:
        cells = []
        for s in (left[cls], right[cls]):
            cells.append(f"{s.precision:>9.3f} {s.recall:>7.3f} {f'{s.tp}/{s.tp + s.fn}':>9}")
        print(f"{cls.value:<12} | {cells[0]} | {cells[1]}")
    print()


def speed(rows: int) -> None:
    from demo.samples import generate_customers

    with tempfile.TemporaryDirectory() as tmp:
        path = generate_customers(tmp, rows=rows, seed=HELD_OUT_FIRST_SEED).files[0]
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
            parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: "skip"),
        )
    text = [table.column(n).combine_chunks().cast(pa.string()) for n in table.column_names]
    cells = rows * len(text)
    for name, scan in (("sluice detectors", confidences), ("str.contains baseline", baseline_evidence)):
        start = time.perf_counter()
        for values in text:
            scan(values)
        elapsed = time.perf_counter() - start
        print(f"{name:<22} {rows:,} rows x {len(text)} columns in {elapsed:6.2f} s: {rows / elapsed:>10,.0f} rows/s "
              f"({cells / elapsed:,.0f} values/s)")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-seeds", type=int, default=20)
    parser.add_argument("--held-out-seeds", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1000, help="rows per generated table")
    parser.add_argument("--speed-rows", type=int, default=200_000)
    parser.add_argument("--build-lexicon", action="store_true", help="rewrite the shipped name word lists and stop")
    args = parser.parse_args(argv)
    if args.build_lexicon:
        from bench.pii_names import build

        build()
        return

    train_seeds = range(args.train_seeds)
    held_seeds = range(HELD_OUT_FIRST_SEED, HELD_OUT_FIRST_SEED + args.held_out_seeds)
    train = records(train_seeds, args.rows)
    held = records(held_seeds, args.rows)
    print(f"{len(train)} training columns (seeds 0..{args.train_seeds - 1}), {len(held)} held-out columns "
          f"(seeds {held_seeds.start}..{held_seeds.stop - 1}), {args.rows} rows per table\n")  # fmt: skip

    chosen, inside, outside = cross_validate(train)
    print(f"{FOLDS}-fold cross-validation over training seeds: thresholds chosen {chosen}; "
          f"on all training seeds: {choose_threshold(train)}; shipped THRESHOLD = {THRESHOLD}\n")  # fmt: skip
    print_side_by_side(("in-sample (CV)", "out-of-fold (CV)"), inside, outside)

    print(f"THRESHOLD {THRESHOLD}: training seeds against held-out seeds")
    print_side_by_side(("training seeds", "held-out seeds"), scores(train, THRESHOLD), scores(held, THRESHOLD))

    base = records(held_seeds, args.rows, baseline_evidence)
    print(f"held-out seeds, THRESHOLD {THRESHOLD}: the detectors against the str.contains baseline")
    print_side_by_side(("sluice detectors", "str.contains baseline"), scores(held, THRESHOLD), scores(base, THRESHOLD))

    speed(args.speed_rows)


if __name__ == "__main__":
    main()
