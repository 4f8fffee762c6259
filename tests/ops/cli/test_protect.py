"""``ops protect`` keyrings and data keys, and ``ops quarantine --reveal-pii`` over protected entries."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from sluice.governance.audit import read_access
from sluice.governance.envelope import KeyStore, current_data_key, encrypt_values
from sluice.governance.kek import KeyringKek
from sluice.governance.keyring import read_keyring_file
from sluice.governance.tokens import tokenise
from tests.ops.factories import QuarantineRow, invoke, sluice_home, write_quarantine


def _text(output: str) -> str:
    return " ".join(output.split())


def _keys(monkeypatch, tmp_path: Path):
    for name in ("tokens", "kek"):
        assert invoke("protect", "keygen", str(tmp_path / f"{name}.json")).exit_code == 0
    return sluice_home(
        monkeypatch,
        tmp_path,
        protect_token_keys_file=str(tmp_path / "tokens.json"),
        protect_kek_provider="file",
        protect_kek_file=str(tmp_path / "kek.json"),
    )


def test_keygen_never_overwrites_and_rotate_keeps_older_versions(monkeypatch, tmp_path) -> None:
    _keys(monkeypatch, tmp_path)
    first = read_keyring_file(tmp_path / "tokens.json")

    again = invoke("protect", "keygen", str(tmp_path / "tokens.json"))
    rotated = invoke("protect", "rotate", str(tmp_path / "tokens.json"))

    assert again.exit_code == 1 and "exists already" in _text(again.output)
    assert rotated.exit_code == 0 and "key version 2 is current" in _text(rotated.output)
    after = read_keyring_file(tmp_path / "tokens.json")
    assert after.current == 2 and after.key(1) == first.key(1)


def test_rewrap_after_a_kek_rotation_moves_every_data_key_to_the_new_version(monkeypatch, tmp_path) -> None:
    settings = _keys(monkeypatch, tmp_path)
    store, kek = KeyStore(settings.lake_root()), KeyringKek(read_keyring_file(tmp_path / "kek.json"))
    current_data_key(store, "customers", kek)
    invoke("protect", "rotate", str(tmp_path / "kek.json"))

    result = invoke("protect", "rewrap", "customers")
    keys = json.loads(invoke("protect", "keys", "customers", "-o", "json").stdout)

    assert result.exit_code == 0 and "1 -> 2" in _text(result.output)
    assert [(k["dataset"], k["kek_version"]) for k in keys] == [("customers", "2")]


def test_reveal_pii_decrypts_only_encrypted_fields_and_records_the_access(monkeypatch, tmp_path) -> None:
    settings = _keys(monkeypatch, tmp_path)
    key = current_data_key(
        KeyStore(settings.lake_root()), "customers", KeyringKek(read_keyring_file(tmp_path / "kek.json"))
    )
    name = encrypt_values(pa.array(["Ann Lee"]), key, "full_name")[0].as_py()
    email = tokenise(pa.array(["ann@example.com"]), read_keyring_file(tmp_path / "tokens.json"))[0].as_py()
    record = {"customer_id": "C000001", "full_name": name, "email": email, "country": "Germany"}
    write_quarantine(settings, [QuarantineRow(record=record)])

    masked = json.loads(invoke("quarantine", "list", "-o", "json").stdout)
    assert masked[0]["record"]["full_name"] == "***" and read_access() == []

    result = invoke("quarantine", "list", "--reveal-pii", "--purpose", "ticket 7", "-o", "json")

    shown = json.loads(result.stdout)[0]["record"]
    assert result.exit_code == 0 and (shown["full_name"], shown["email"]) == ("Ann Lee", email)
    assert [(r.action, r.dataset, r.columns, r.rows, r.purpose) for r in read_access()] == [
        ("reveal_pii", "customers", ["email", "full_name"], 1, "ticket 7"),  # the PII columns shown unmasked
        ("reveal", "customers", ["full_name"], 1, "ticket 7"),  # the one encrypted field decrypted
    ]


def test_reveal_without_a_kek_fails_with_one_line_and_shows_nothing(monkeypatch, tmp_path) -> None:
    settings = _keys(monkeypatch, tmp_path)
    key = current_data_key(
        KeyStore(settings.lake_root()), "customers", KeyringKek(read_keyring_file(tmp_path / "kek.json"))
    )
    record = {"full_name": encrypt_values(pa.array(["Ann Lee"]), key, "full_name")[0].as_py()}
    write_quarantine(settings, [QuarantineRow(record=record)])
    monkeypatch.setenv("SLUICE_PROTECT_KEK_FILE", str(tmp_path / "missing.json"))

    result = invoke("quarantine", "list", "--reveal-pii", "-o", "json")

    assert result.exit_code == 1 and "cannot read the keyring file" in _text(result.output)
    assert "Ann Lee" not in result.output and "Traceback" not in result.output
