"""``score_csv``: the CLI's scoring is the detector's scoring, and bad input is refused clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ops.baselines.detector import score_series
from ops.baselines.scoring import score_csv
from ops.errors import BaselineInputError


def _series_csv(path, n=2_000, spike_at=1_500):
    stamps = pd.date_range("2024-01-01", periods=n, freq="5min")
    values = 100 + 10 * np.sin(np.arange(n) * 2 * np.pi / 288) + np.random.default_rng(1).normal(0, 1, n)
    values[spike_at] += 80
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "value": values}).to_csv(path, index=False)
    return stamps, values


def test_scores_written_match_the_detector_row_for_row(tmp_path):
    stamps, values = _series_csv(tmp_path / "in.csv")

    summary = score_csv(tmp_path / "in.csv", tmp_path / "out.csv")

    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["timestamp", "value", "anomaly_score"] and len(out) == summary.rows == 2_000
    expected = score_series(stamps.to_numpy(), values)
    assert np.allclose(out["anomaly_score"].to_numpy(), np.round(expected, 6))
    assert out["anomaly_score"].between(0, 1).all()
    assert int(out["anomaly_score"].idxmax()) == 1_500


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("timestamp,value\n2024-01-02,1\n2024-01-01,2\n", "go backwards at line 3"),
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
