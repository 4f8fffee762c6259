"""``ops baseline fit|show|plot|versions`` against a real embedded store."""

from __future__ import annotations

import json

import numpy as np

from ops.metrics.store import open_store
from tests.ops.baselines.fleet import daily_series, spiked, with_values
from tests.ops.factories import invoke, sluice_home

END = "2026-03-16T00:00:00Z"  # the end of daily_series()'s 14 days


def seeded(monkeypatch, tmp_path) -> None:
    settings = sluice_home(monkeypatch, tmp_path)
    flat = with_values(daily_series(name="flat"), np.full(14 * 288, 4.0))
    open_store(home=settings.home).write_series([spiked(daily_series(), np.arange(-30, -10), 150.0), flat])


def test_fit_json_lists_fitted_and_rejected_series(monkeypatch, tmp_path):
    seeded(monkeypatch, tmp_path)
    result = invoke("baseline", "fit", "sluice_rows_read", "--since", "14d", "--end", END, "-o", "json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["version"] == 1
    (fitted,) = report["fitted"]
    assert fitted["labels"] == {"dataset": "daily"} and fitted["model"] == "daily"
    assert fitted["lower"] < fitted["expected"] < fitted["upper"]
    (rejected,) = report["rejected"]
    assert rejected["labels"] == {"dataset": "flat"} and "constant" in rejected["reason"]


def test_show_prints_the_current_band_and_an_hourly_table(monkeypatch, tmp_path):
    seeded(monkeypatch, tmp_path)
    invoke("baseline", "fit", 'sluice_rows_read{dataset="daily"}', "--since", "14d", "--end", END)
    shown = json.loads(invoke("baseline", "show", "--at", "2026-03-16T14:00:00Z", "-o", "json").stdout)
    hourly = json.loads(
        invoke(
            "baseline",
            "show",
            'sluice_rows_read{dataset="daily"}',
            "--at",
            "2026-03-16T00:00:00Z",
            "--hours",
            "24",
            "-o",
            "json",
        ).stdout
    )

    assert 130 < shown[0]["expected"] < 150  # the daily peak at 14:00
    assert len(hourly) == 24
    assert max(hourly, key=lambda row: row["expected"])["at"].startswith("2026-03-16T14")


def test_plot_writes_a_png(monkeypatch, tmp_path):
    seeded(monkeypatch, tmp_path)
    invoke("baseline", "fit", "sluice_rows_read", "--since", "14d", "--end", END)
    target = tmp_path / "band.png"
    result = invoke("baseline", "plot", "sluice_rows_read", "--out", str(target), "--since", "2d", "--end", END)

    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_versions_json_counts_each_fit(monkeypatch, tmp_path):
    seeded(monkeypatch, tmp_path)
    for _ in range(2):
        invoke("baseline", "fit", "sluice_rows_read", "--since", "14d", "--end", END)

    assert [v["version"] for v in json.loads(invoke("baseline", "versions", "-o", "json").stdout)] == [1, 2]


def test_fit_without_matching_points_fails_with_a_hint(monkeypatch, tmp_path):
    seeded(monkeypatch, tmp_path)
    result = invoke("baseline", "fit", "no_such_metric", "--since", "14d", "--end", END)

    assert result.exit_code == 1
    assert "no points of no_such_metric" in result.stderr and "ops metrics list" in result.stderr


def test_fit_with_an_unknown_method_is_a_usage_error(monkeypatch, tmp_path):
    seeded(monkeypatch, tmp_path)
    assert invoke("baseline", "fit", "sluice_rows_read", "--method", "magic").exit_code == 2


def test_score_warns_about_late_and_repeated_timestamps_and_scores_every_row(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    rows = ["timestamp,value"] + [f"2024-01-01 {h:02d}:00:00,{v}" for h, v in enumerate([5, 6, 5, 7, 6, 5])]
    rows.insert(4, "2024-01-01 01:00:00,6")  # late: an hour already read
    (tmp_path / "in.csv").write_text("\n".join(rows) + "\n")

    result = invoke("baseline", "score", "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"), "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 7 and summary["late_rows"] == 1
    assert "earlier than one already read" in result.stderr
