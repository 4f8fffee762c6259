"""``ops glossary``: list the terms; lint the contracts, exit 1 on findings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.ops.factories import invoke, sluice_home

SHIPPED = Path(__file__).resolve().parents[3] / "sluice" / "contracts"


def test_the_shipped_contracts_lint_clean(monkeypatch, tmp_path):
    from ops.cli._utilities import console

    sluice_home(monkeypatch, tmp_path)
    monkeypatch.setattr(console, "_width", 80)

    lint = invoke("glossary", "lint")
    listed = invoke("glossary", "list")

    assert lint.exit_code == 0, lint.output
    assert "agree with each other and with the glossary" in lint.stdout
    assert listed.exit_code == 0 and "person_name" in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80


def test_a_renamed_column_and_a_retyped_one_are_findings_and_exit_1(monkeypatch, tmp_path):
    from ops.cli._utilities import console

    root = tmp_path / "contracts"
    shutil.copytree(SHIPPED, root)
    orders = root / "orders.yaml"
    text = orders.read_text(encoding="utf-8")
    text = text.replace("  - name: email\n", "  - name: mail_addr\n")  # still linked to the term email
    text = text.replace("    type: timestamp\n    term: updated_at\n", "    type: date\n    term: updated_at\n")
    orders.write_text(text, encoding="utf-8")
    sluice_home(monkeypatch, tmp_path, contracts_dir=str(root))
    monkeypatch.setattr(console, "_width", 80)

    result = invoke("glossary", "lint", "-o", "json")
    table = invoke("glossary", "lint")

    assert result.exit_code == 1, result.output
    found = {(f["kind"], f["subject"]) for f in json.loads(result.stdout)}
    assert found == {
        ("same name, different types", "updated_at"),
        ("naming conflict", "email"),
        ("type mismatch", "updated_at"),
    }
    assert table.exit_code == 1 and "3 finding(s)" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80


def test_the_term_list_as_json(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    terms = json.loads(invoke("glossary", "list", "-o", "json").stdout)

    email = next(t for t in terms if t["name"] == "email")
    assert email["pii"] == "email" and "email_address" in email["synonyms"]
