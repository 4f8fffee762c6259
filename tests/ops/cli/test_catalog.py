"""``ops catalog``: list, search and show, now and as of a date."""

from __future__ import annotations

import json

from tests.ops.factories import invoke, run_report, save_runs, sluice_home
from tests.sluice.catalog.factories import GLOSSARY, committed_contracts, contract_yaml


def _narrow(monkeypatch):
    from ops.cli._utilities import console

    monkeypatch.setattr(console, "_width", 80)


def test_list_and_show_fit_80_columns_and_show_recent_runs(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    save_runs(
        settings,
        run_report(
            "run-cust-1", dataset="customers", rows_read=50, rows_written=48, rows_quarantined=2, rows_duplicate=0
        ),
    )
    _narrow(monkeypatch)

    listed = invoke("catalog", "list")
    shown = invoke("catalog", "show", "customers")

    assert listed.exit_code == 0 and "customers" in listed.stdout and "orders" in listed.stdout
    assert shown.exit_code == 0, shown.output
    assert "person_name" in shown.stdout and "run-cust-1" in shown.stdout
    assert "privacy-officers" in shown.stdout  # the shipped policy's rules
    assert max(len(line) for line in (listed.stdout + shown.stdout).splitlines()) <= 80


def test_search_prints_hits_as_json_and_exits_1_when_nothing_matches(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    found = invoke("catalog", "search", "email", "--output", "json")
    missing = invoke("catalog", "search", "no-such-thing-anywhere")

    hits = json.loads(found.stdout)
    assert found.exit_code == 0 and {(h["dataset"], h["column"]) for h in hits} >= {
        ("customers", "email"),
        ("orders", "email"),
    }
    assert missing.exit_code == 1 and "nothing in the catalog matches" in missing.output


def test_show_as_of_answers_what_the_contract_said_then(monkeypatch, tmp_path):
    folder = committed_contracts(
        tmp_path,
        [
            ("2026-01-01T12:00:00+00:00", {"shop.yaml": contract_yaml("shop"), "glossary.yaml": GLOSSARY}),
            ("2026-02-01T12:00:00+00:00", {"shop.yaml": contract_yaml("shop", mode="upsert", version=2)}),
        ],
    )
    sluice_home(monkeypatch, tmp_path, contracts_dir=str(folder))

    then = invoke("catalog", "show", "shop", "--as-of", "2026-01-15", "--output", "json")
    now = invoke("catalog", "show", "shop", "--output", "json")
    bad = invoke("catalog", "show", "shop", "--as-of", "last tuesday")
    unknown = invoke("catalog", "show", "nope")

    assert then.exit_code == 0, then.output
    assert json.loads(then.stdout)["entry"]["mode"] == "append" and json.loads(now.stdout)["entry"]["mode"] == "upsert"
    assert bad.exit_code == 2 and "not a date" in bad.output
    assert unknown.exit_code == 1 and "known datasets: shop" in unknown.output
