"""``ops pii scan``: the table, the JSON, and exit 1 when the contract's pii tags disagree with the sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
from deltalake import write_deltalake

from demo.samples import generate_customers
from sluice.settings import Settings
from tests.ops.factories import invoke, sluice_home

SCANNED = ["customer_id", "full_name", "email", "country", "segment"]


def lake_customers(settings: Settings, tmp_path: Path, rows: int = 600) -> None:
    """Generated customers in the lake (the text columns the scan reads), in two files."""
    path = generate_customers(tmp_path / "source", rows=rows, seed=11).files[0]
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(SCANNED, pa.string()), include_columns=SCANNED),
        parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: "skip"),
    )
    half = table.num_rows // 2
    for part in (table.slice(0, half), table.slice(half)):
        write_deltalake(f"{settings.lake_root()}/customers", part, mode="append")


def contracts_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped contracts with ``old`` replaced by ``new`` in customers.yaml."""
    root = tmp_path / "contracts"
    shutil.copytree(Path(__file__).resolve().parents[3] / "sluice" / "contracts", root)
    path = root / "customers.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return root


def test_the_shipped_contract_agrees_with_its_data_and_exits_0(monkeypatch, tmp_path):
    from ops.cli._utilities import console

    settings = sluice_home(monkeypatch, tmp_path)
    lake_customers(settings, tmp_path)
    monkeypatch.setattr(console, "_width", 80)  # a terminal 80 columns wide

    result = invoke("pii", "scan", "customers")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    full_name = next(line for line in lines if line.startswith("full_name"))
    assert full_name.split()[1:2] == ["person_name"] and full_name.split()[-1] == "ok"
    assert "customers: 600 rows sampled" in result.stdout or "rows sampled" in result.stdout
    assert "agree with the sample" in result.stdout


def test_an_untagged_email_column_is_a_disagreement_and_exits_1(monkeypatch, tmp_path):
    root = contracts_with(tmp_path, "    term: email\n    pii: email\n", "    term: email\n")
    settings = sluice_home(monkeypatch, tmp_path, contracts_dir=str(root))
    lake_customers(settings, tmp_path)

    result = invoke("pii", "scan", "customers", "--sample", "200", "-o", "json")

    assert result.exit_code == 1, result.output
    scan = json.loads(result.stdout)
    assert scan["rows_sampled"] == 200 and scan["disagreements"] == 1
    email = next(c for c in scan["columns"] if c["column"] == "email")
    assert (email["proposed"], email["contract_tag"], email["verdict"]) == ("email", False, "missing tag")
    assert email["confidence"] > 0.9 and email["values_sampled"] > 150


def test_an_unknown_dataset_or_an_empty_sample_fails_without_a_traceback(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    unknown = invoke("pii", "scan", "custmers")
    empty = invoke("pii", "scan", "customers", "--sample", "0")

    assert unknown.exit_code == 1
    assert "did you mean 'customers'?" in unknown.stderr and "Traceback" not in unknown.output
    assert empty.exit_code == 2
