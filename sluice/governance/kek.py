"""Key-encryption keys (KEKs): what wraps each dataset's data keys, from a configured provider.

- :class:`KeyringKek`: AES-256-GCM under a versioned keyring from a Prefect
  Secret block (``SLUICE_PROTECT_KEK_BLOCK``) or, for development and tests, a
  file (``SLUICE_PROTECT_KEK_FILE``). Rotation adds a version to the keyring.
- :class:`VaultTransitKek`: HashiCorp Vault's transit engine through ``hvac``;
  the key never leaves Vault, and Vault versions it (``vault write -f
  transit/keys/<name>/rotate``).

A wrapped key names the KEK version that wrapped it, so after a rotation
:func:`sluice.governance.envelope.rewrap` finds the keys to re-wrap.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timezone
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field

from sluice.errors import ConfigError
from sluice.governance.keyring import Keyring, read_keyring_block, read_keyring_file
from sluice.settings import KekProvider, ProtectionSettings

_NONCE = 12


class WrappedKey(BaseModel):
    """A data key wrapped by a KEK, as stored in ``_sluice/keys``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str  # "keyring" or "vault"
    version: str  # the KEK version that wrapped it
    wrapped: str  # base64 of nonce and ciphertext (keyring), or Vault's ciphertext
    wrapped_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


class KeyEncryptionKey(Protocol):
    """Wraps and unwraps data keys; ``context`` binds a wrapped key to its dataset and id."""

    def current_version(self) -> str: ...

    def wrap(self, key: bytes, *, context: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes: ...


class KeyringKek:
    """AES-256-GCM key wrapping under the keyring's current version."""

    provider = "keyring"

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def current_version(self) -> str:
        return str(self.keyring.current)

    def wrap(self, key: bytes, *, context: bytes) -> WrappedKey:
        nonce = secrets.token_bytes(_NONCE)
        sealed = nonce + AESGCM(self.keyring.key(self.keyring.current)).encrypt(nonce, key, context)
        return WrappedKey(
            provider=self.provider, version=self.current_version(), wrapped=base64.b64encode(sealed).decode()
        )

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes:
        if wrapped.provider != self.provider or not wrapped.version.isdigit():
            raise ConfigError(
                f"a data key was wrapped by the {wrapped.provider!r} provider, not by a keyring",
                hint="set SLUICE_PROTECT_KEK_PROVIDER to the provider that wrapped it",
            )
        key = self.keyring.key(int(wrapped.version))
        try:
            sealed = base64.b64decode(wrapped.wrapped, validate=True)
            return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], context)
        except (InvalidTag, ValueError):
            raise ConfigError(
                f"a data key does not unwrap under KEK version {wrapped.version} of {self.keyring.origin}",
                hint="the key file was changed, or the keyring's key of that version is not the one that wrapped it",
            ) from None


class VaultTransitKek:
    """Data keys wrapped by Vault's transit engine (``hvac``): Vault holds and versions the KEK."""

    provider = "vault"

    def __init__(self, client: Any, key_name: str, mount: str = "transit") -> None:
        self.client, self.key_name, self.mount = client, key_name, mount

    def current_version(self) -> str:
        info = self.client.secrets.transit.read_key(name=self.key_name, mount_point=self.mount)
        return f"v{info['data']['latest_version']}"

    def wrap(self, key: bytes, *, context: bytes) -> WrappedKey:
        reply = self.client.secrets.transit.encrypt_data(
            name=self.key_name,
            plaintext=base64.b64encode(key).decode(),
            associated_data=base64.b64encode(context).decode(),
            mount_point=self.mount,
        )
        text = str(reply["data"]["ciphertext"])  # vault:v<N>:<base64>
        return WrappedKey(provider=self.provider, version=text.split(":")[1], wrapped=text)

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes:
        from hvac.exceptions import VaultError

        try:
            reply = self.client.secrets.transit.decrypt_data(
                name=self.key_name,
                ciphertext=wrapped.wrapped,
                associated_data=base64.b64encode(context).decode(),
                mount_point=self.mount,
            )
        except VaultError as exc:
            raise ConfigError(
                f"Vault transit key {self.key_name!r} refused to unwrap a data key: {str(exc).splitlines()[0]}",
                hint="the key file was changed or moved, or the Vault token may not decrypt with this key",
            ) from None
        return base64.b64decode(reply["data"]["plaintext"])


def _vault(settings: ProtectionSettings) -> VaultTransitKek:
    if not settings.vault_url or settings.vault_token is None:
        raise ConfigError(
            "the vault KEK provider needs SLUICE_PROTECT_VAULT_URL and SLUICE_PROTECT_VAULT_TOKEN",
            hint="set both, or choose another SLUICE_PROTECT_KEK_PROVIDER",
        )
    import hvac

    client = hvac.Client(url=settings.vault_url, token=settings.vault_token.get_secret_value())
    return VaultTransitKek(client, settings.vault_transit_key, settings.vault_mount)


def load_kek(settings: ProtectionSettings) -> KeyEncryptionKey:
    """The configured KEK provider.

    Raises:
        ConfigError: the provider's settings are missing, or its keyring cannot be read.
    """
    if settings.kek_provider is KekProvider.VAULT:
        return _vault(settings)
    if settings.kek_provider is KekProvider.FILE:
        if settings.kek_file is None:
            raise ConfigError(
                "SLUICE_PROTECT_KEK_PROVIDER is file but SLUICE_PROTECT_KEK_FILE is unset",
                hint="point it at a keyring file (`ops protect keygen PATH` makes one)",
            )
        return KeyringKek(read_keyring_file(settings.kek_file))
    if not settings.kek_block:
        raise ConfigError(
            "a contract encrypts columns but no key-encryption key is configured",
            hint="set SLUICE_PROTECT_KEK_BLOCK (a Prefect Secret block holding a keyring), or choose another "
            "SLUICE_PROTECT_KEK_PROVIDER",
        )
    return KeyringKek(read_keyring_block(settings.kek_block))


def load_token_keyring(settings: ProtectionSettings) -> Keyring:
    """The tokenisation keyring: the Secret block's, else the explicitly named file's.

    Raises:
        ConfigError: neither is configured, or the keyring cannot be read.
    """
    if settings.token_keys_block:
        return read_keyring_block(settings.token_keys_block)
    if settings.token_keys_file is not None:
        return read_keyring_file(settings.token_keys_file)
    raise ConfigError(
        "a contract tokenises columns but no tokenisation key is configured",
        hint="set SLUICE_PROTECT_TOKEN_KEYS_BLOCK (a Prefect Secret block holding a keyring)",
    )
