"""``ops report`` on a real SQLite incident store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ops.incidents.db import open_engine, store_url, transaction
from tests.ops.factories import invoke, sluice_home
from tests.ops.reports.factories import SIGNATURE, scripted_incidents
from tests.ops.reports.test_plot import PNG_MAGIC


@pytest.fixture()
def settings(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    base = datetime.now(timezone.utc) - timedelta(days=5)
    with transaction(open_engine(store_url(settings.home))) as session:
        scripted_incidents(session, base)
    return settings


def test_report_json_has_the_exact_figures_of_the_last_30_days(settings):
    result = invoke("report", "--since", "30d", "-o", "json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["incidents"] == 4 and report["open_incidents"] == 1
    assert report["mtta"] == {"count": 4, "mean_minutes": 8.75, "median_minutes": 6.5}
    assert report["mttr"]["count"] == 3 and report["mttr"]["median_minutes"] == 30.0
    assert report["by_severity"] == {"SEV1": 1, "SEV2": 2, "SEV3": 1, "SEV4": 0}
    assert [(o["by"], o["key"]) for o in report["repeat_offenders"]] == [("signature", SIGNATURE), ("dedup_key", "A")]
    assert [a["description"] for a in report["overdue_actions"]] == ["retry S3 reads"]


def test_drills_are_included_on_request(settings):
    report = json.loads(invoke("report", "--drills", "-o", "json").stdout)

    assert report["incidents"] == 5 and report["drills_included"] is True


def test_plot_writes_a_png_beside_the_json(settings, tmp_path):
    target = tmp_path / "report.png"

    result = invoke("report", "-o", "json", "--plot", str(target))

    assert result.exit_code == 0 and json.loads(result.stdout)["incidents"] == 4
    assert target.read_bytes().startswith(PNG_MAGIC) and f"wrote {target}" in result.stderr


def test_the_table_shows_response_times_offenders_and_overdue_items(settings):
    result = invoke("report")

    assert result.exit_code == 0
    for text in ("MTTA", "8.8 min", "Repeat offenders", "Overdue action items", "retry S3 reads"):
        assert text in result.stdout


def test_a_bad_period_exits_1_with_a_hint(settings):
    result = invoke("report", "--since", "a month")

    assert result.exit_code == 1 and "error: invalid duration 'a month'" in result.stderr
    assert "hint: durations look like" in result.stderr
