"""Validation hands over protected chunks: tokens and envelopes in valid rows, warning texts and quarantine
entries; clear values are checked first, and a contract without protected columns is left alone."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from sluice.errors import ConfigError, ContractError, LakeError
from sluice.formats import MalformedRow, RawChunk
from sluice.governance.audit import read_access
from sluice.governance.keyring import new_keyring, read_keyring_file, write_keyring_file
from sluice.governance.reveal import reveal, reveal_entries
from sluice.governance.tokens import tokenise
from sluice.lake.quarantine import QuarantineEntry
from sluice.settings import get_settings
from sluice.validate.chunk import BatchContext, validate_chunk
from sluice.validate.contracts import parse_contract
from sluice.validate.quality import Reason

CONTRACT = """
name: people
owner: team@example.com
freshness_sla: 1d
primary_key: [id]
partition: {column: day}
columns:
  - {name: id, type: string}
  - {name: day, type: date}
  - {name: email, type: string, pii: email, protect: token, max_length: 20, criticality: warning}
  - {name: full_name, type: string, pii: person_name, protect: encrypt}
  - {name: city, type: string, nullable: true}
"""
CTX = BatchContext("people", "run-1", "batch-1", "people.csv", date(2026, 1, 1))


@pytest.fixture()
def keys(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    write_keyring_file(tmp_path / "tokens.json", new_keyring())
    write_keyring_file(tmp_path / "kek.json", new_keyring())
    monkeypatch.setenv("SLUICE_PROTECT_TOKEN_KEYS_FILE", str(tmp_path / "tokens.json"))
    monkeypatch.setenv("SLUICE_PROTECT_KEK_PROVIDER", "file")
    monkeypatch.setenv("SLUICE_PROTECT_KEK_FILE", str(tmp_path / "kek.json"))
    return read_keyring_file(tmp_path / "tokens.json")


def _chunk() -> RawChunk:
    table = pa.table(
        {
            "id": ["1", "2", "3"],
            "day": ["2026-01-01", "2026-01-01", "not a date"],
            "email": ["ann@x.example", "a.very.long.address@x.example", "cy@x.example"],
            "full_name": ["Ann Lee", "Bo Long", "Cy Bad"],
            "city": ["Bonn", "Kiel", "Ulm"],
        }
    )
    line = MalformedRow(9, "4,2026-01-01,dee@x.example,Dee Raw,Ulm,extra", Reason.MALFORMED_ROW, "6 fields, not 5")
    return RawChunk(table, np.array([2, 3, 4]), malformed=[line])


def test_valid_rows_hold_tokens_and_envelopes_and_warning_texts_are_protected(keys) -> None:
    result = validate_chunk(_chunk(), parse_contract(CONTRACT), CTX)

    rows = result.valid.to_pylist()
    assert rows[0]["email"] == tokenise(pa.array(["ann@x.example"]), keys)[0].as_py()
    assert rows[1]["email"] is None or rows[1]["email"].startswith("tok_v1_")  # the too-long value is cut or nulled
    assert all(r["full_name"].startswith("enc_v1_") for r in rows) and [r["city"] for r in rows] == ["Bonn", "Kiel"]
    warned = json.loads(rows[1]["_warnings"])
    assert warned["email"] == tokenise(pa.array(["a.very.long.address@x.example"]), keys)[0].as_py()
    revealed = reveal(result.valid, "people", ["full_name"], purpose="test", principal="p")
    assert revealed.column("full_name").to_pylist() == ["Ann Lee", "Bo Long"]


def test_quarantine_entries_keep_no_clear_pii_and_reveal_decrypts_only_encrypted_fields(keys) -> None:
    quarantine = validate_chunk(_chunk(), parse_contract(CONTRACT), CTX).quarantine.to_pylist()

    text = json.dumps(quarantine, default=str)
    for clear in ("cy@x.example", "Cy Bad", "dee@x.example", "Dee Raw"):
        assert clear not in text
    bad = next(q for q in quarantine if q["column"] == "day")
    record = dict(bad["record"])
    assert record["city"] == "Ulm" and record["email"].startswith("tok_v1_")
    raw_line = next(dict(q["record"])["_raw"] for q in quarantine if q["reason"] == Reason.MALFORMED_ROW.value)
    assert raw_line.startswith("enc_v1_")  # an unsplit line is protected like the strongest column

    entries = [QuarantineEntry(**{**q, "record": dict(q["record"])}) for q in quarantine]
    shown = reveal_entries(entries, purpose="triage", principal="oncall")
    by_reason = {e.reason: e for e in shown}
    assert by_reason[Reason.MALFORMED_ROW.value].record["_raw"] == "4,2026-01-01,dee@x.example,Dee Raw,Ulm,extra"
    day = next(e for e in shown if e.column == "day")
    assert (day.record["full_name"], day.record["city"]) == ("Cy Bad", "Ulm")
    assert day.record["email"] == record["email"]  # a token stays a token
    assert [(r.principal, r.action, r.dataset, r.columns, r.rows, r.purpose) for r in read_access()] == [
        ("oncall", "reveal", "people", ["_raw", "full_name"], 2, "triage")
    ]


def test_an_unwritable_audit_stops_the_reveal_before_anything_is_decrypted(keys, tmp_path, monkeypatch) -> None:
    valid = validate_chunk(_chunk(), parse_contract(CONTRACT), CTX).valid
    (tmp_path / "audit-is-a-file").write_text("")
    monkeypatch.setenv("SLUICE_ACCESS_AUDIT_URI", str(tmp_path / "audit-is-a-file"))

    with pytest.raises(LakeError, match="cannot append to the access audit"):
        reveal(valid, "people", ["full_name"], purpose="x", settings=get_settings())


def test_a_contract_that_protects_columns_fails_clearly_without_keys(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    contract = parse_contract(CONTRACT.replace(", protect: encrypt", ""))

    with pytest.raises(ConfigError, match="no tokenisation key is configured"):
        validate_chunk(_chunk(), contract, CTX)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("protect: encrypt}\n  - {name: city, type: string", "protect: token applies to pii columns"),
        ("{name: id, type: string}", "primary_key column 'id' cannot be protected"),
        ("{name: day, type: date}", "protect applies to string columns"),
    ],
)
def test_the_contract_refuses_protection_where_it_cannot_work(change: str, problem: str) -> None:
    if change.startswith("protect"):
        text = CONTRACT.replace("{name: city, type: string", "{name: city, type: string, protect: token")
    else:
        text = CONTRACT.replace(change, change[:-1] + ", pii: true, protect: token}")

    with pytest.raises(ContractError, match=problem):
        parse_contract(text)
