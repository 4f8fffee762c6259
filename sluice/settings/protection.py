"""The ``protect`` section: the keys that tokenise and encrypt PII columns, quarantine retention."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr

from sluice.settings.sources import PREFIX, Section


class KekProvider(StrEnum):
    SECRET_BLOCK = "secret_block"
    FILE = "file"
    VAULT = "vault"


class ProtectionSettings(Section):
    """Tokenisation and envelope encryption of PII columns, read by :mod:`sluice.governance.protect`."""

    env_prefix = f"{PREFIX}PROTECT_"
    title = "PII protection"

    token_keys_block: str | None = Field(
        default=None,
        description=(
            'Name of a Prefect Secret block holding the tokenisation keyring as JSON, `{"current": 2, "keys": '
            '{"1": "<base64>", "2": "<base64>"}}`: every key version, and the one new tokens use.'
        ),
    )
    token_keys_file: Path | None = Field(
        default=None,
        description=(
            "A file holding the tokenisation keyring JSON instead of the Secret block (development and tests only; "
            "`ops protect keygen` makes one). Used only when `SLUICE_PROTECT_TOKEN_KEYS_BLOCK` is unset."
        ),
    )
    kek_provider: KekProvider = Field(
        default=KekProvider.SECRET_BLOCK,
        description=(
            "Where the key-encryption key that wraps each dataset's data keys comes from: `secret_block` (a keyring "
            "in `SLUICE_PROTECT_KEK_BLOCK`), `file` (`SLUICE_PROTECT_KEK_FILE`, development only) or `vault` "
            "(HashiCorp Vault transit)."
        ),
    )
    kek_block: str | None = Field(
        default=None, description="Name of the Prefect Secret block holding the key-encryption keyring JSON."
    )
    kek_file: Path | None = Field(
        default=None, description="A file holding the key-encryption keyring JSON (development and tests only)."
    )
    vault_url: str | None = Field(default=None, description="Vault address for the `vault` provider.")
    vault_token: SecretStr | None = Field(
        default=None, description="Vault token for the `vault` provider. Never logged."
    )
    vault_transit_key: str = Field(
        default="sluice", description="Name of the Vault transit key that wraps data keys (`vault` provider)."
    )
    vault_mount: str = Field(default="transit", description="Mount point of Vault's transit engine.")
