"""``ops sla report`` on a real metadata store (SQLite) and contracts that declare consumers."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sluice.settings import get_settings
from tests.ops.factories import invoke, run_report, save_runs, sluice_home

REPO_CONTRACTS = Path(__file__).resolve().parents[3] / "sluice" / "contracts"
CONSUMERS = """
consumers:
  - name: finance-dashboard
    freshness: 2h
    max_quarantined_share: 0.05
  - name: ml-features
    freshness: 1d
"""


@pytest.fixture()
def settings(monkeypatch, tmp_path):
    contracts = tmp_path / "contracts"
    shutil.copytree(REPO_CONTRACTS, contracts)
    with (contracts / "orders.yaml").open("a") as f:
        f.write(CONSUMERS)
    settings = sluice_home(monkeypatch, tmp_path, contracts_dir=str(contracts), env="dev")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    runs = [  # finished 9h, 8h, 3h and 2.5h ago (each 42 s after its start); the 3h one quarantines 20 %
        run_report(
            f"run-{m}",
            started_at=now - timedelta(minutes=m, seconds=42),
            rows_read=100,
            rows_written=100 - q,
            rows_quarantined=q,
            rows_duplicate=0,
        )
        for m, q in ((540, 0), (480, 0), (180, 20), (150, 0))
    ]
    save_runs(get_settings(), *runs, replace(runs[0], run_id="other-env", env="prod"))
    return settings


def test_the_report_says_who_was_let_down_when_and_for_how_long(settings):
    result = invoke("sla", "report", "--since", "10h", "-o", "json")

    assert result.exit_code == 0, result.output
    found = {s["consumer"]: s for s in json.loads(result.stdout)}
    assert set(found) == {"finance-dashboard", "ml-features"} and found["ml-features"]["letdowns"] == []
    spans = [(d["promise"], d["ongoing"]) for d in found["finance-dashboard"]["letdowns"]]
    assert spans == [("freshness", False), ("quarantined_share", False), ("freshness", True)]
    fresh = found["finance-dashboard"]["letdowns"][0]
    assert datetime.fromisoformat(fresh["end"]) - datetime.fromisoformat(fresh["start"]) == timedelta(hours=3)
    assert fresh["seconds"] == 3 * 3600 and found["finance-dashboard"]["seconds_let_down"] > 3.5 * 3600


def test_the_table_fits_80_columns_and_lists_each_span(settings, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke("sla", "report", "--dataset", "orders", "--since", "10h")

    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "quarantined_share" in result.output and "(ongoing)" in result.output and "20.00%" in result.output


def test_since_takes_an_iso_time_and_refuses_what_is_neither(settings):
    start = (datetime.now(timezone.utc) - timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%S")
    result = invoke("sla", "report", "--since", start, "-o", "json")
    bad = invoke("sla", "report", "--since", "last tuesday")

    assert result.exit_code == 0, result.output
    finance = next(s for s in json.loads(result.stdout) if s["consumer"] == "finance-dashboard")
    assert [d["promise"] for d in finance["letdowns"]] == ["freshness", "quarantined_share", "freshness"]
    assert bad.exit_code == 2 and "neither a duration" in bad.output


def test_a_dataset_without_consumers_says_so_and_an_unknown_dataset_fails(settings):
    none = invoke("sla", "report", "--dataset", "customers")
    unknown = invoke("sla", "report", "--dataset", "nosuch")

    as_json = invoke("sla", "report", "--dataset", "customers", "-o", "json")
    assert none.exit_code == 0 and "no contract declares consumers for customers" in none.output
    assert json.loads(as_json.stdout) == []
    assert unknown.exit_code == 1
