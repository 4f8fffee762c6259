"""The NAB benchmark end to end on a small corpus made here, and its causal baselines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import nab

ROWS = 1200


def write_corpus(root: Path) -> tuple[Path, Path]:
    data = root / "data"
    (data / "synthetic").mkdir(parents=True)
    ts = pd.date_range("2024-01-01", periods=ROWS, freq="5min")
    rng = np.random.default_rng(0)
    windows = {}
    for i, spike in enumerate((700, 950)):
        values = 10 + np.sin(np.arange(ROWS) / 20) + rng.normal(0, 0.2, ROWS)
        values[spike] += 8
        name = f"synthetic/series_{i}.csv"
        pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": values}).to_csv(data / name, index=False)
        windows[name] = [[str(ts[spike - 20]), str(ts[spike + 20])]]
    quiet = 10 + rng.normal(0, 0.2, ROWS)
    pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": quiet}).to_csv(
        data / "synthetic/quiet.csv", index=False
    )
    windows["synthetic/quiet.csv"] = []
    path = root / "windows.json"
    path.write_text(json.dumps(windows))
    return data, path


def test_benchmark_prints_every_detector_and_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, windows = write_corpus(tmp_path)
    assert nab.main([str(data), str(windows), "--per-file"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    table = "\n".join(out)
    for name in nab.DETECTORS:
        assert name in table
    assert "3 files" in out[0]
    summary = re.match(r"Sluice NAB: Standard ([\d.]+), Reward low FP ([\d.]+), Reward low FN ([\d.]+)", out[-1])
    assert summary is not None
    # both spikes caught mid-window (a true positive worth 0.86 each) and nothing else
    assert [float(v) for v in summary.groups()] == pytest.approx([93.4, 93.4, 95.6], abs=0.1)


@pytest.mark.parametrize("detector", list(nab.DETECTORS.values()), ids=list(nab.DETECTORS))
def test_baselines_are_bounded_and_causal(detector) -> None:
    rng = np.random.default_rng(1)
    ts = np.datetime64("2024-01-01T00:00", "m") + np.arange(2000) * np.timedelta64(5, "m")
    x = np.cumsum(rng.normal(0, 1, 2000))
    full = detector(ts, x)
    assert full.shape == x.shape and np.isfinite(full).all()
    assert ((full >= 0) & (full <= 1)).all()
    for cut in (5, 751, 1500):
        np.testing.assert_array_equal(detector(ts[:cut], x[:cut]), full[:cut])
    assert detector(ts[:0], x[:0]).shape == (0,)
