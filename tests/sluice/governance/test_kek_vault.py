"""The Vault transit KEK provider, through the real hvac client against a transit stand-in (no Vault runs here)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sluice.errors import ConfigError
from sluice.governance.envelope import Decrypter, KeyStore, current_data_key, encrypt_values, rewrap
from sluice.governance.kek import load_kek
from sluice.settings import KekProvider, ProtectionSettings
from tests.standins.vault_transit import TransitStandIn


@pytest.fixture()
def vault():
    with TransitStandIn(token="root-token") as server:
        server.create_key("sluice")
        yield server


def _settings(vault: TransitStandIn, token: str = "root-token") -> ProtectionSettings:
    return ProtectionSettings(kek_provider=KekProvider.VAULT, vault_url=vault.url, vault_token=token)


def test_data_keys_wrapped_by_vault_unwrap_after_a_rotation_and_rewrap_moves_them_to_the_new_version(
    vault, tmp_path
) -> None:
    store, kek = KeyStore(str(tmp_path / "lake")), load_kek(_settings(vault))
    sealed = encrypt_values(pa.array(["Ann Lee"]), current_data_key(store, "customers", kek), "full_name")
    assert store.read("customers", store.key_ids("customers")[0]).version == "v1"

    vault.answer("POST", "/v1/transit/keys/sluice/rotate", {})
    done = rewrap(store, ["customers"], kek)

    assert [(d.from_version, d.to_version) for d in done] == [("v1", "v2")]
    assert Decrypter(store, "customers", kek).value(sealed[0].as_py(), "full_name") == "Ann Lee"
    assert any(c.startswith("POST /v1/transit/decrypt/sluice") for c in vault.calls)


def test_a_wrapped_key_moved_to_another_dataset_does_not_unwrap(vault, tmp_path) -> None:
    store, kek = KeyStore(str(tmp_path / "lake")), load_kek(_settings(vault))
    key = current_data_key(store, "customers", kek)
    store.write("orders", key.key_id, store.read("customers", key.key_id))

    with pytest.raises(ConfigError, match="refused to unwrap a data key: cipher: message authentication failed"):
        Decrypter(store, "orders", kek).value(encrypt_values(pa.array(["x"]), key, "c")[0].as_py(), "c")


def test_the_vault_provider_without_url_or_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs SLUICE_PROTECT_VAULT_URL and SLUICE_PROTECT_VAULT_TOKEN"):
        load_kek(ProtectionSettings(kek_provider=KekProvider.VAULT))
