"""Erasure through tokens: a subject whose e-mail is stored tokenised (under two key versions) is found and erased."""

from __future__ import annotations

import pyarrow as pa

from sluice.governance.keyring import new_keyring, write_keyring_file
from sluice.governance.tokens import tokenise
from sluice.retention.erasure import ErasureRequest
from sluice.retention.service import run_erasure
from sluice.retention.subjects import ensure_subject, stored_values
from sluice.settings import get_settings
from sluice.validate.contracts import find_contract
from tests.sluice.retention.lake import customers, every_version, holds_value, ingest, write_contracts


def _protected(folder):
    path = folder / "customers.yaml"
    path.write_text(path.read_text().replace("pii: email}", "pii: email, protect: token}"))
    return folder


def test_a_tokenised_subject_is_found_under_every_key_version_and_erased(tmp_path, monkeypatch):
    keys = tmp_path / "token-keys.json"
    first = new_keyring("test")
    write_keyring_file(keys, first)
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(_protected(write_contracts(tmp_path / "contracts"))))
    monkeypatch.setenv("SLUICE_PROTECT_TOKEN_KEYS_FILE", str(keys))
    settings = get_settings(fresh=True)
    ingest(settings, "customers", customers(["jane@example.com", "joe@example.com"]))
    rotated = first.rotated()
    write_keyring_file(keys, rotated, replace=True)
    settings = get_settings(fresh=True)
    ingest(settings, "customers", customers(["jane@example.com"], start=10, day="2026-02-02"))
    old_token = str(tokenise(pa.array(["jane@example.com"]), rotated, first.current)[0])
    new_token = str(tokenise(pa.array(["jane@example.com"]), rotated)[0])
    uri = f"{settings.lake_root()}/customers"
    assert holds_value(current_rows(uri), old_token) and holds_value(current_rows(uri), new_token)
    assert not holds_value(current_rows(uri), "jane@example.com")  # stored as tokens only

    contract = find_contract("customers", settings.contracts_root())
    assert stored_values(contract, "email", "jane@example.com", settings) == ["jane@example.com", old_token, new_token]
    cert = run_erasure(settings, ErasureRequest([ensure_subject("email=jane@example.com")], "gdpr-17", vacuum_now=True))

    assert [(p.table, p.rows) for p in cert.places] == [("customers", 2)]
    for table in every_version(uri).values():
        assert not holds_value(table, old_token) and not holds_value(table, new_token)
    assert holds_value(current_rows(uri), str(tokenise(pa.array(["joe@example.com"]), rotated, first.current)[0]))


def current_rows(uri: str) -> pa.Table:
    from deltalake import DeltaTable

    return pa.table(DeltaTable(uri).to_pyarrow_table())
