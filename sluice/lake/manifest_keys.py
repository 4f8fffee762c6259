"""The Ed25519 keys of run manifests: making one, the signing key from settings, the keys verification trusts.

A key is named by its id: the first 16 hex digits of the sha256 of its raw
32-byte public key. A manifest records the id of the key that signed it, so
after a key rotation the retired key's public half (kept in
``SLUICE_MANIFEST_PUBLIC_KEYS_DIR``) still verifies the manifests it signed.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import SecretStr

from sluice.errors import ConfigError
from sluice.settings import ManifestSettings

ALGORITHM = "ed25519"
PUBLIC_SUFFIXES = (".pem", ".pub")
_MAX_KEY_BYTES = 64 * 1024


def key_id(public: Ed25519PublicKey) -> str:
    """The id a manifest names its key by: 16 hex digits of the sha256 of the raw public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    """A loaded signing key and its id."""

    key: Ed25519PrivateKey
    key_id: str

    def sign(self, data: bytes) -> str:
        """The base64 Ed25519 signature of ``data``."""
        return base64.b64encode(self.key.sign(data)).decode("ascii")

    @property
    def public(self) -> Ed25519PublicKey:
        return self.key.public_key()


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_key(path: Path, passphrase: str | None = None) -> tuple[str, Path]:
    """Write a new Ed25519 private key to ``path`` (mode 0600) and its public key to ``path.pub``.

    Returns the key id and the public key's path.

    Raises:
        ConfigError: either file exists already (a key is never overwritten) or cannot be written.
    """
    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists():
            raise ConfigError(f"{target} exists already", hint="choose another PATH; a key is never overwritten")
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private)
        public_path.write_bytes(public_pem(key.public_key()))
    except OSError as exc:
        raise ConfigError(
            f"cannot write the key to {path}: {exc}", hint="check the folder and its permissions"
        ) from None
    return key_id(key.public_key()), public_path


def _private_key(pem: bytes, passphrase: SecretStr | None, origin: str) -> Ed25519PrivateKey:
    password = passphrase.get_secret_value().encode() if passphrase is not None else None
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except TypeError:
        raise ConfigError(
            f"the signing key {origin} is encrypted and no passphrase is set, or it is not encrypted and one is",
            hint="set or unset SLUICE_MANIFEST_SIGNING_KEY_PASSPHRASE",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(
            f"the signing key {origin} is not a PEM private key (or the passphrase is wrong)",
            hint="make one with `ops manifest keygen PATH`",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            f"the signing key {origin} is a {type(key).__name__}, not an Ed25519 key",
            hint="make one with `ops manifest keygen PATH`",
        )
    return key


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        if path.stat().st_size > _MAX_KEY_BYTES:
            raise ConfigError(f"{what} {path} is too large to be a key", hint="point the setting at a PEM key file")
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}", hint="check the path") from None


def _block_pem(name: str) -> bytes:
    from prefect.blocks.system import Secret

    try:
        block = Secret.load(name)  # typed "block or coroutine": Prefect dispatches on the caller being async
    except ValueError:
        raise ConfigError(
            f"no Prefect Secret block named {name!r}",
            hint="create it with the PEM text of the key, or fix SLUICE_MANIFEST_SIGNING_KEY_BLOCK",
        ) from None
    if not isinstance(block, Secret):
        raise TypeError("Secret.load returned an awaitable: called from async code")
    value = block.get()
    return value.encode() if isinstance(value, str) else str(value).encode()


def load_signer(settings: ManifestSettings) -> Signer | None:
    """The configured signing key; ``None`` when none is configured and signing is not required.

    Raises:
        ConfigError: the key cannot be read or is not an Ed25519 private key, or
            ``require_signing`` is set and no key is configured.
    """
    if settings.signing_key is not None:
        pem = _read_key_file(settings.signing_key, "the signing key")
        origin = str(settings.signing_key)
    elif settings.signing_key_block:
        pem, origin = _block_pem(settings.signing_key_block), f"in Secret block {settings.signing_key_block!r}"
    elif settings.require_signing:
        raise ConfigError(
            "SLUICE_MANIFEST_REQUIRE_SIGNING is set but no signing key is configured",
            hint="set SLUICE_MANIFEST_SIGNING_KEY (a PEM file; `ops manifest keygen PATH` makes one) "
            "or SLUICE_MANIFEST_SIGNING_KEY_BLOCK",
        )
    else:
        return None
    key = _private_key(pem, settings.signing_key_passphrase, origin)
    return Signer(key, key_id(key.public_key()))


def _public_key(path: Path) -> Ed25519PublicKey:
    pem = _read_key_file(path, "the public key")
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(
            f"{path} is not a PEM public key", hint="keep only public keys (`*.pem`, `*.pub`) in the keys folder"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path} is a {type(key).__name__}, not an Ed25519 key", hint="remove it from the folder")
    return key


def trusted_keys(settings: ManifestSettings, signer: Signer | None = None) -> dict[str, Ed25519PublicKey]:
    """Every public key verification trusts, by id: the folder's, and the signing key's own.

    Raises:
        ConfigError: the folder cannot be read or holds a file that is not an Ed25519 public key.
    """
    keys: dict[str, Ed25519PublicKey] = {}
    folder = settings.public_keys_dir
    if folder is not None:
        if not folder.is_dir():
            raise ConfigError(
                f"the public keys folder {folder} does not exist", hint="fix SLUICE_MANIFEST_PUBLIC_KEYS_DIR"
            )
        for path in sorted(p for p in folder.iterdir() if p.suffix in PUBLIC_SUFFIXES and p.is_file()):
            key = _public_key(path)
            keys[key_id(key)] = key
    if signer is not None:
        keys[signer.key_id] = signer.public
    return keys


def signature_valid(public: Ed25519PublicKey, signature: str, data: bytes) -> bool:
    """Whether ``signature`` (base64) is ``public``'s signature of ``data``."""
    try:
        public.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
