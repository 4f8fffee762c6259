"""Envelope encryption: values decrypt only in their column under their data key; a KEK rotation re-wraps data
keys without touching data files; concurrent writers that make data keys at once all stay readable."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.errors import ConfigError
from sluice.governance.envelope import (
    DataKey,
    Decrypter,
    DecryptionError,
    KeyStore,
    current_data_key,
    decrypt_value,
    encrypt_values,
    rewrap,
)
from sluice.governance.kek import KeyringKek
from sluice.governance.keyring import Keyring, new_keyring

_KEY = DataKey("customers", "k1", bytes(range(32)))


def _store(tmp_path: Path) -> KeyStore:
    return KeyStore(str(tmp_path / "lake"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text()), max_size=20))
def test_every_value_decrypts_to_itself_and_null_stays_null(values) -> None:
    key = _KEY
    sealed = encrypt_values(pa.array(values, pa.string()), key, "full_name").to_pylist()

    assert [None if s is None else decrypt_value(s, key, "full_name") for s in sealed] == values
    assert all(s is None or s.startswith(f"enc_v1_{key.key_id}_") for s in sealed)


def test_equal_values_encrypt_differently_and_a_value_moved_to_another_column_does_not_decrypt() -> None:
    first, second = encrypt_values(pa.array(["Ann Lee", "Ann Lee"]), _KEY, "full_name").to_pylist()

    assert first != second
    with pytest.raises(DecryptionError, match="copied from another column"):
        decrypt_value(first, _KEY, "email")


def test_a_changed_byte_of_a_value_fails_to_decrypt() -> None:
    sealed = encrypt_values(pa.array(["Ann Lee"]), _KEY, "full_name")[0].as_py()
    flipped = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]

    with pytest.raises(DecryptionError):
        decrypt_value(flipped, _KEY, "full_name")


def _files(uri: Path) -> dict[str, str]:
    return {
        str(p.relative_to(uri)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in uri.rglob("*.parquet")
        if "_sluice" not in p.parts
    }


def test_kek_rotation_rewraps_data_keys_leaves_data_files_byte_identical_and_values_still_decrypt(tmp_path) -> None:
    store, v1 = _store(tmp_path), new_keyring()
    key = current_data_key(store, "customers", KeyringKek(v1))
    names = ["Ann Lee", "Bob Roe", None]
    table_uri = tmp_path / "lake" / "customers"
    write_deltalake(str(table_uri), pa.table({"full_name": encrypt_values(pa.array(names), key, "full_name")}))
    before = _files(table_uri)

    v2 = v1.rotated()
    done = rewrap(store, ["customers"], KeyringKek(v2))

    assert [(d.from_version, d.to_version) for d in done] == [("1", "2")]
    assert _files(table_uri) == before
    only_v2 = Keyring(2, {2: v2.key(2)})  # the retired version is gone
    decrypter = Decrypter(store, "customers", KeyringKek(only_v2))
    stored = DeltaTable(str(table_uri)).to_pyarrow_table().column("full_name").to_pylist()
    assert [decrypter.value(v, "full_name") for v in stored] == names
    assert rewrap(store, ["customers"], KeyringKek(v2)) == []  # nothing left to re-wrap


def test_a_data_key_wrapped_by_a_retired_kek_version_fails_with_a_hint(tmp_path) -> None:
    store, v1 = _store(tmp_path), new_keyring()
    key = current_data_key(store, "customers", KeyringKek(v1))
    sealed = encrypt_values(pa.array(["x"]), key, "c")[0].as_py()
    v2 = v1.rotated()

    with pytest.raises(ConfigError, match="no key version 1") as err:
        Decrypter(store, "customers", KeyringKek(Keyring(2, {2: v2.key(2)}))).value(sealed, "c")
    assert "restore the retired version" in str(err.value)


def test_concurrent_writers_that_find_no_data_key_each_make_one_and_every_value_decrypts(tmp_path) -> None:
    store, kek = _store(tmp_path), KeyringKek(new_keyring())

    def write(i: int) -> str:
        key = current_data_key(store, "orders", kek)
        return str(encrypt_values(pa.array([f"value {i}"]), key, "email")[0].as_py())

    with ThreadPoolExecutor(8) as pool:
        sealed = list(pool.map(write, range(16)))

    decrypter = Decrypter(store, "orders", kek)
    assert [decrypter.value(s, "email") for s in sealed] == [f"value {i}" for i in range(16)]
    assert 1 <= len(store.key_ids("orders")) <= 16


def test_a_missing_key_file_fails_to_decrypt_with_a_hint(tmp_path) -> None:
    store, kek = _store(tmp_path), KeyringKek(new_keyring())
    sealed = encrypt_values(pa.array(["x"]), current_data_key(store, "orders", kek), "email")[0].as_py()
    for path in (tmp_path / "lake" / "_sluice" / "keys" / "orders").iterdir():
        path.unlink()

    with pytest.raises(DecryptionError, match="missing or unreadable"):
        Decrypter(store, "orders", kek).value(sealed, "email")
