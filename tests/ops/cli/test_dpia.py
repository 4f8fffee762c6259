"""``ops dpia draft`` writes and refreshes DPIA files; ``ops dpia check`` fails on stale ones."""

from __future__ import annotations

import json
import shutil

from tests.ops.factories import invoke, sluice_home
from tests.sluice.catalog.factories import SHIPPED


def test_draft_then_check_then_a_contract_change_makes_check_fail_until_redrafted(monkeypatch, tmp_path):
    root = tmp_path / "contracts"
    shutil.copytree(SHIPPED, root)
    sluice_home(monkeypatch, tmp_path, contracts_dir=str(root))
    folder = tmp_path / "dpia"

    drafted = invoke("dpia", "draft", "customers", "--dir", str(folder))
    path = folder / "customers.md"
    path.write_text(path.read_text().replace("_To complete", "Consent, recorded at sign-up. _To complete", 1))
    current = invoke("dpia", "check", "--dir", str(folder))
    contract = root / "customers.yaml"
    contract.write_text(contract.read_text().replace("owner: crm-data@sluice.example", "owner: dpo@sluice.example"))
    stale = invoke("dpia", "check", "--dir", str(folder), "--output", "json")
    redrafted = invoke("dpia", "draft", "customers", "--dir", str(folder))
    again = invoke("dpia", "check", "customers", "--dir", str(folder))

    assert drafted.exit_code == 0 and "wrote" in drafted.output
    assert current.exit_code == 0 and "customers: current" in current.output
    assert stale.exit_code == 1 and json.loads(stale.stdout) == {"customers": ["processing"]}
    assert redrafted.exit_code == 0 and "your sections are as you left them" in redrafted.output
    assert again.exit_code == 0
    text = path.read_text()
    assert "Consent, recorded at sign-up." in text and "dpo@sluice.example" in text


def test_an_unknown_dataset_or_an_empty_folder_is_a_clear_error(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    unknown = invoke("dpia", "draft", "nope", "--dir", str(tmp_path / "d"))
    traversal = invoke("dpia", "draft", "../etc", "--dir", str(tmp_path / "d"))
    empty = invoke("dpia", "check", "--dir", str(tmp_path / "none"))

    assert unknown.exit_code == 1 and "no contract named 'nope'" in unknown.output
    assert traversal.exit_code in (1, 2) and not (tmp_path / "etc.md").exists()
    assert empty.exit_code == 1 and "no DPIA files" in empty.output


def test_the_access_section_lists_the_policy_rules_and_a_dataset_without_policy_is_denied(monkeypatch, tmp_path):
    root = tmp_path / "contracts"
    shutil.copytree(SHIPPED, root)
    (root / "shop.yaml").write_text((root / "orders.yaml").read_text().replace("name: orders", "name: shop", 1))
    sluice_home(monkeypatch, tmp_path, contracts_dir=str(root))

    customers = invoke("dpia", "draft", "customers", "--stdout")
    shop = invoke("dpia", "draft", "shop", "--stdout")

    access = customers.stdout.split("<!-- sluice:begin access -->")[1].split("<!-- sluice:end access -->")[0]
    assert "`analysts`: for roles analyst, data-scientist" in access
    assert "masks: customer_id hash, email hash" in access and "Any other reader is denied" in access
    assert "governed reads of this dataset are denied" in shop.stdout


def test_retention_and_protection_come_from_the_contract(monkeypatch, tmp_path):
    root = tmp_path / "contracts"
    shutil.copytree(SHIPPED, root)
    contract = root / "customers.yaml"
    text = contract.read_text().replace("  column: signup_date\n", "  column: signup_date\n  retention: 400d\n")
    contract.write_text(text.replace("    pii: email\n", "    pii: email\n    protect: token\n", 1))
    sluice_home(monkeypatch, tmp_path, contracts_dir=str(root))

    drafted = invoke("dpia", "draft", "customers", "--stdout")

    assert drafted.exit_code == 0, drafted.output
    assert "rows are deleted 400 days after their signup_date" in drafted.stdout
    assert "| `email` | email | email |" in drafted.stdout and "tokenised at ingestion" in drafted.stdout
    assert "| `full_name` | person_name |" in drafted.stdout and "stored in clear" in drafted.stdout
