"""``ops alerts check|list|rules`` on a real embedded store."""

from __future__ import annotations

import json

import numpy as np

from ops.metrics.store import open_store
from tests.ops.alerts.factories import series
from tests.ops.factories import invoke, sluice_home

RULES = """rules:
  - id: too-many
    summary: Too many rows
    selector: m
    direction: above
    threshold: {static: 10}
    trigger: {window: 15m, fraction: 0.5}
    recovery: {window: 15m, fraction: 0}
    severity: SEV2
    runbook: row-count-anomaly
"""
AT = "2026-03-02T01:00:00Z"  # the twelfth point of the series below


def seeded(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    open_store(home=settings.home).write_series([series(np.r_[np.full(9, 5.0), np.full(6, 50.0)])])
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


def test_check_json_reports_each_series_and_the_transition(monkeypatch, tmp_path):
    rules = seeded(monkeypatch, tmp_path)
    result = invoke("alerts", "check", "--rules", str(rules), "--at", AT, "-o", "json")

    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.stdout)
    (item,) = evaluation["results"]
    assert item["status"] == "firing" and item["value"] == 50.0 and item["runbook"] == "row-count-anomaly"
    (event,) = evaluation["events"]
    assert event["status"] == "firing" and event["started_at"] == "2026-03-02T00:45:00+00:00"


def test_list_json_shows_what_the_last_check_left_firing(monkeypatch, tmp_path):
    rules = seeded(monkeypatch, tmp_path)
    assert json.loads(invoke("alerts", "list", "-o", "json").stdout) == []
    invoke("alerts", "check", "--rules", str(rules), "--at", AT)
    (alert,) = json.loads(invoke("alerts", "list", "-o", "json").stdout)
    history = json.loads(invoke("alerts", "list", "--history", "5", "-o", "json").stdout)["history"]

    assert alert["rule_id"] == "too-many" and alert["severity"] == "SEV2"
    assert [e["status"] for e in history] == ["firing"]


def test_rules_json_lists_the_default_rules(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    rules = json.loads(invoke("alerts", "rules", "-o", "json").stdout)

    assert {r["id"] for r in rules} >= {"quarantine-rate-spike", "run-failures"}
    assert all(r["runbook"] for r in rules)


def test_a_malformed_rule_file_fails_with_its_location(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace("fraction: 0.5", "fraction: 1.5"))
    result = invoke("alerts", "check", "--rules", str(bad))

    assert result.exit_code == 1
    assert "rules[too-many].trigger.fraction" in result.stderr


def test_check_prints_one_line_per_series_firing_first_with_whole_numbers_at_80_columns(monkeypatch, tmp_path):
    from ops.cli._utilities import console

    settings = sluice_home(monkeypatch, tmp_path)
    quiet = [
        series(
            np.full(15, 5.0),
            dataset=f"dataset_with_a_long_name_{i}",
            flow="ingest-files",
            environment="staging",
            worker="tcp://127.0.0.1:40000",
        )
        for i in range(6)
    ]
    loud = series(np.r_[np.full(9, 5.0), np.full(6, 1_234_567.0)], dataset="orders", flow="ingest-files")
    open_store(home=settings.home).write_series([*quiet, loud])
    (tmp_path / "rules.yaml").write_text(RULES)
    monkeypatch.setattr(console, "_width", 80)  # a terminal 80 columns wide

    result = invoke("alerts", "check", "--rules", str(tmp_path / "rules.yaml"), "--at", AT, "--dry-run")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line.lstrip().startswith(("FIRING", "ok", "insufficient"))]
    assert len(rows) == 7 and rows[0].lstrip().startswith("FIRING") and "1.235e+06" in rows[0]
    assert max(len(line) for line in lines) <= 80


def test_check_wide_keeps_the_share_and_runbook_on_a_narrow_terminal(monkeypatch, tmp_path):
    from ops.cli._utilities import console

    rules = seeded(monkeypatch, tmp_path)
    monkeypatch.setattr(console, "_width", 80)  # a terminal 80 columns wide

    narrow = invoke("alerts", "check", "--rules", str(rules), "--at", AT, "--dry-run").stdout
    wide = invoke("alerts", "check", "--rules", str(rules), "--at", AT, "--dry-run", "--wide").stdout

    def header(out: str) -> str:
        return next(line for line in out.splitlines() if line.lstrip().startswith("Status"))

    assert "Runbook" not in header(narrow) and "Runbook" in header(wide) and " of " in wide
    assert console.width == 80
