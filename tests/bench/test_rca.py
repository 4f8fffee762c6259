"""bench/rca.py end to end on a small labelled corpus made here, and bench/correlate_scale.py at a small scale."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import correlate_scale, rca

SERVICES = ("carts", "orders", "user")


def write_case(root: Path, service: str, kind: str, run: int) -> None:
    rng = np.random.default_rng(hash((service, kind, run)) % 2**32)
    folder = root / "shop" / f"{service}-{kind}" / str(run)
    folder.mkdir(parents=True)
    for name, start, faulty in (("normal", 1_000_000, False), ("anomalous", 1_000_300, True)):
        table = {"time": np.arange(start, start + 300)}
        for s in SERVICES:
            table[f"{s}_cpu"] = 2 + rng.normal(0, 0.3, 300)
            table[f"{s}_mem"] = 1e8 + np.round(rng.normal(0, 3, 300)) * 4096
            table[f"{s}_lat_90"] = 0.05 + rng.gamma(2, 0.005, 300)
        if faulty:
            table[f"{service}_{kind}"] = table[f"{service}_{kind}"] * (40 if kind == "cpu" else 3)
            table[f"{service}_lat_90"] = table[f"{service}_lat_90"] + 0.2
        pd.DataFrame(table).to_csv(folder / f"{name}.csv", index=False)


def test_rca_benchmark_ranks_every_injected_fault_and_prints_a_summary(tmp_path, capsys):
    for service in SERVICES:
        for kind in ("cpu", "mem"):
            write_case(tmp_path, service, kind, 1)

    assert rca.main([str(tmp_path), "--seeds", "5", "--scale-series", "20"]) == 0

    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("6 cases under")
    assert any(line.startswith("shop/carts-cpu/1") and "carts_cpu" in line for line in out)
    assert any(line.startswith("settings chosen out of fold: shop/carts-cpu: ") for line in out)
    summary = re.match(
        r"Sluice RCA: top-1 ([\d.]+), top-3 ([\d.]+) in-sample, ([\d.]+)/([\d.]+) out-of-fold over 6 cases; "
        r"robust-z jump [\d.]+/[\d.]+; \|z\| jump [\d.]+/[\d.]+; 20 series in [\d.]+ s",
        out[-1],
    )
    assert summary is not None, out[-1]
    assert [float(summary[i]) for i in range(1, 5)] == [1.0, 1.0, 1.0, 1.0]


def test_out_of_fold_scores_each_group_with_the_setting_best_on_the_others():
    cases = [rca.Case(f"{g}/{i}", "a_cpu", None, 1, g) for g in ("x", "y") for i in range(2)]  # type: ignore[arg-type]
    ranks = [{name: (1, "a_cpu") for name in rca.GRID} for _ in cases]
    ranks[0] = {name: (1 if name == "z cap 100" else 2, "a_cpu") for name in rca.GRID}
    ranks[1] = dict(ranks[0])  # group x: only "z cap 100" ranks it first; group y: every setting does

    held_out, chosen = rca.out_of_fold(cases, ranks)

    assert chosen == {"x": "default", "y": "z cap 100"}
    assert held_out == [2, 2, 1, 1]


def test_synthetic_benchmark_reports_every_fault_kind_against_the_baselines(capsys):
    assert rca.main(["--synthetic", "--per-kind", "4", "--seeds", "3", "--scale-series", "0"]) == 0

    out = capsys.readouterr().out
    for kind in ("cpu", "mem", "delay"):
        assert f"fault kind {kind}" in out
    assert "largest robust-z jump" in out and "Sluice, out-of-fold" in out


def test_the_robust_jump_baseline_is_not_fooled_by_one_outlier_in_the_baseline():
    values = np.array([[1.0, 1.1, 0.9, 50.0, 1.0, 1.0, 9.0], [5.0, 5.2, 4.8, 5.1, 4.9, 5.0, 7.0]])
    case = rca.Case("c", "b", rca.WideFrame(np.arange(7), ["a", "b"], values), 6, "g")

    assert rca.robust_jump_order(case)[0] == "a" and rca.z_jump_order(case)[0] == "b"


def test_rca_benchmark_says_when_there_are_no_cases(tmp_path, capsys):
    assert rca.main([str(tmp_path)]) == 2
    assert "no cases" in capsys.readouterr().err


def test_truth_comes_from_the_fault_folder():
    assert rca.truth_of(Path("sock-shop/catalogue-db-mem/2")) == "catalogue-db_mem"


def test_scale_benchmark_finds_the_hog_and_prints_a_summary(capsys):
    assert correlate_scale.main(["--series", "120", "--hours", "0.25", "--loop-sample", "20", "--repeat", "1"]) == 0

    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("correlate scale: 120 series x 900 rows in")
    assert last.endswith(f"top suspect {correlate_scale.HOG}")


@pytest.mark.parametrize("series", [150])
def test_scale_fleet_has_the_hog_before_the_failure(series):
    frame, failure = correlate_scale.fleet(series, 3600, 1.0, 0)

    j = frame.names.index(correlate_scale.HOG)
    assert frame.values[j, failure - 100] - frame.values[j, 100] > 50 and frame.names[-1] == "latency"
