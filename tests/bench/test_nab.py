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
    for category in ("first", "second"):
        (data / category).mkdir(parents=True)
    ts = pd.date_range("2024-01-01", periods=ROWS, freq="5min")
    rng = np.random.default_rng(0)
    windows = {}
    for i, spike in enumerate((700, 950)):
        values = 10 + np.sin(np.arange(ROWS) / 20) + rng.normal(0, 0.2, ROWS)
        values[spike] += 8
        name = f"{('first', 'second')[i]}/series_{i}.csv"
        pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": values}).to_csv(data / name, index=False)
        windows[name] = [[str(ts[spike - 20]), str(ts[spike + 20])]]
    quiet = 10 + rng.normal(0, 0.2, ROWS)
    pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": quiet}).to_csv(
        data / "first/quiet.csv", index=False
    )
    windows["first/quiet.csv"] = []
    path = root / "windows.json"
    path.write_text(json.dumps(windows))
    return data, path


def test_benchmark_prints_in_sample_and_out_of_fold_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_corpus(tmp_path)
    assert nab.main([str(tmp_path), "--per-file"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    table = "\n".join(out)
    for name in nab.DETECTORS:
        assert name in table
    assert "3 files" in out[0] and "categories: 2" in out[1]
    summary = re.match(r"Sluice NAB Standard: in-sample ([\d.]+), out-of-fold ([\d.]+) \(gap ([-\d.]+)", out[-1])
    assert summary is not None
    # both spikes caught mid-window (a true positive worth 0.86 each) and nothing else, also out of fold
    in_sample, out_of_fold, gap = (float(v) for v in summary.groups())
    assert in_sample == pytest.approx(93.4, abs=0.1) and out_of_fold == pytest.approx(93.4, abs=0.1)
    assert gap == pytest.approx(0.0, abs=0.1)


def test_a_missing_windows_file_is_a_usage_error(tmp_path: Path) -> None:
    assert nab.main([str(tmp_path)]) == 2


SCORERS = {f"{d}/{c}": f for d, candidates in nab.DETECTORS.items() for c, f in candidates.items()}


@pytest.mark.parametrize("detector", list(SCORERS.values()), ids=list(SCORERS))
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


def test_shared_parts_give_each_candidate_its_own_scores() -> None:
    rng = np.random.default_rng(2)
    ts = np.datetime64("2024-01-01T00:00", "m") + np.arange(1500) * np.timedelta64(5, "m")
    x = 10 + np.sin(np.arange(1500) / 30) + rng.normal(0, 0.1, 1500)
    x[1200] += 5
    batch = nab.sluice_all(ts, x)
    assert set(batch) == set(nab.DETECTORS["Sluice"])
    for name in list(batch)[:: max(1, len(batch) // 9)]:
        np.testing.assert_array_equal(batch[name], nab.DETECTORS["Sluice"][name](ts, x), err_msg=name)
