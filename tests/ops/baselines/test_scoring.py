"""``score_csv``: the CLI's scoring is the ensemble detector's scoring, bad input is refused clearly, and rows out of
time order or with repeated timestamps are scored and counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.baselines.ensemble import score_ensemble
from ops.baselines.scoring import score_csv
from ops.errors import BaselineInputError


def _series_csv(path, n=2_000, spike_at=1_500):
    stamps = pd.date_range("2024-01-01", periods=n, freq="5min")
    values = 100 + 10 * np.sin(np.arange(n) * 2 * np.pi / 288) + np.random.default_rng(1).normal(0, 1, n)
    values[spike_at] += 80
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "value": values}).to_csv(path, index=False)
    return stamps, values


def test_scores_written_match_the_ensemble_row_for_row(tmp_path):
    stamps, values = _series_csv(tmp_path / "in.csv")

    summary = score_csv(tmp_path / "in.csv", tmp_path / "out.csv")

    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["timestamp", "value", "anomaly_score"] and len(out) == summary.rows == 2_000
    expected = score_ensemble(stamps.to_numpy(), values)
    assert np.allclose(out["anomaly_score"].to_numpy(), np.round(expected, 6))
    assert out["anomaly_score"].between(0, 1).all()
    assert int(out["anomaly_score"].idxmax()) == 1_500


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("timestamp,value\n2024-01-01,1\n2024-01-02,abc\n", "non-numeric values at line"),
        ("time,value\n2024-01-01,1\n", "lacks column"),
        ("timestamp,value\nyesterday,1\n", "unparseable timestamp"),
        ("timestamp,value\n", "has no rows"),
    ],
)
def test_bad_input_is_refused_with_the_line(tmp_path, body, message):
    (tmp_path / "in.csv").write_text(body)
    with pytest.raises(BaselineInputError, match=message):
        score_csv(tmp_path / "in.csv", tmp_path / "out.csv")


def test_a_timestamp_going_backwards_is_scored_and_counted(tmp_path):
    (tmp_path / "in.csv").write_text("timestamp,value\n2024-01-02,1\n2024-01-01,2\n2024-01-01,3\n2024-01-03,4\n")

    summary = score_csv(tmp_path / "in.csv", tmp_path / "out.csv")

    out = pd.read_csv(tmp_path / "out.csv")
    assert out["value"].tolist() == [1, 2, 3, 4]  # file order kept
    assert summary.rows == 4 and summary.late_rows == 2 and summary.duplicate_timestamps == 1
    assert any("earlier than one already read" in w for w in summary.warnings)
    assert any("repeat the previous row's timestamp" in w for w in summary.warnings)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    swaps=st.lists(st.integers(min_value=0, max_value=298), max_size=20),
    repeats=st.lists(st.integers(min_value=1, max_value=299), max_size=20),
)
def test_shuffled_and_repeated_timestamps_are_scored_never_refused(tmp_path, swaps, repeats):
    stamps, values = _series_csv(tmp_path / "clean.csv", n=300, spike_at=250)
    moved = stamps.to_numpy().copy()
    for i in swaps:
        moved[[i, i + 1]] = moved[[i + 1, i]]
    for i in repeats:
        moved[i] = moved[i - 1]
    text = pd.DatetimeIndex(moved).strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"timestamp": text, "value": values}).to_csv(tmp_path / "in.csv", index=False)

    summary = score_csv(tmp_path / "in.csv", tmp_path / "out.csv")

    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == summary.rows == 300 and np.allclose(out["value"], values)
    assert out["anomaly_score"].between(0, 1).all()
    steps = np.diff(moved.astype("datetime64[s]").astype(np.int64))
    assert summary.duplicate_timestamps == int((steps == 0).sum())
    assert (summary.late_rows > 0) == bool((steps < 0).any())
    assert int(out["anomaly_score"].idxmax()) == 250 and out["anomaly_score"][250] >= 0.6
