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

    assert rca.main([str(tmp_path), "--seeds", "5"]) == 0

    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("6 cases under")
    assert any(line.startswith("shop/carts-cpu/1") and "carts_cpu" in line for line in out)
    summary = re.match(
        r"Sluice RCA: top-1 ([\d.]+), top-3 ([\d.]+) over 6 cases \(([\d.]+) ms per case\); "
        r"\|z\| jump [\d.]+/[\d.]+; random [\d.]+/[\d.]+",
        out[-1],
    )
    assert summary is not None, out[-1]
    assert float(summary[1]) == 1.0 and float(summary[2]) == 1.0


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
