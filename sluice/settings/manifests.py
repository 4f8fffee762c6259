"""The ``manifests`` section: the key that signs run manifests, and the public keys that verify them."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from sluice.settings.sources import PREFIX, Section


class ManifestSettings(Section):
    """Signing and verification of run manifests, read by :mod:`sluice.lake.manifest_keys`."""

    env_prefix = f"{PREFIX}MANIFEST_"
    title = "Run manifests"

    signing_key: Path | None = Field(
        default=None,
        description=(
            "PEM file of the Ed25519 private key that signs each commit's manifest (`ops manifest keygen PATH` "
            "makes one). Unset, and with no `SLUICE_MANIFEST_SIGNING_KEY_BLOCK`, manifests are written unsigned."
        ),
    )
    signing_key_block: str | None = Field(
        default=None,
        description=(
            "Name of a Prefect Secret block holding the PEM text of the signing key, read when "
            "`SLUICE_MANIFEST_SIGNING_KEY` is unset."
        ),
    )
    signing_key_passphrase: SecretStr | None = Field(
        default=None, description="Passphrase of an encrypted signing key. Never logged."
    )
    public_keys_dir: Path | None = Field(
        default=None,
        description=(
            "Folder of PEM Ed25519 public keys (`*.pem`, `*.pub`) that `ops manifest verify` trusts, besides the "
            "signing key's own. Keep retired keys here: manifests they signed still verify."
        ),
    )
    require_signing: bool = Field(
        default=False,
        description=(
            "`true`: a run with no signing key configured fails before it commits, instead of writing unsigned "
            "manifests (set it in staging and prod)."
        ),
    )

    def signing_configured(self) -> bool:
        return self.signing_key is not None or bool(self.signing_key_block)
