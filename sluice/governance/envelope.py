"""Envelope encryption of PII values: AES-256-GCM per value under a data key, data keys wrapped by a KEK.

Each dataset has data keys (random 256-bit AES keys). A data key is never
stored in the clear: it is wrapped by the key-encryption key (KEK) of a
provider (:mod:`sluice.governance.kek`) and kept as a small JSON file beside
the tables, ``<lake>/_sluice/keys/<dataset>/<key id>.json``. An encrypted
value reads ``enc_v1_<key id>_<base64url of nonce, ciphertext and tag>``; the
associated data binds it to its dataset and column, so a value copied into
another column does not decrypt.

Rotating the KEK re-wraps the data key files (:func:`rewrap`): the data files,
which hold only values encrypted under the data keys, are not rewritten.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.fs as pafs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sluice.errors import SluiceError
from sluice.governance.kek import KeyEncryptionKey, WrappedKey
from sluice.paths import ensure_dataset_name

CIPHER_PREFIX = "enc_v1_"
KEYS_DIR = "_sluice/keys"
NONCE_BYTES = 12
_MAX_KEY_FILE_BYTES = 64 * 1024


class DecryptionError(SluiceError):
    """A value that does not decrypt: tampered, moved to another column, or under a key that is gone."""


@dataclass(frozen=True)
class DataKey:
    """A dataset's data key in the clear (only in memory). Its repr never shows the key."""

    dataset: str
    key_id: str
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class KeyStore:
    """Where the wrapped data keys of every dataset are kept: ``<root>/_sluice/keys/<dataset>/``."""

    root: str  # the lake root (a local path or s3://bucket/prefix)
    storage_options: dict[str, str] = field(default_factory=dict)

    def _fs(self) -> tuple[pafs.FileSystem, str]:
        from sluice.lake.table import lake_filesystem

        return lake_filesystem(self.root, self.storage_options or None)

    def folder(self, dataset: str) -> tuple[pafs.FileSystem, str]:
        ensure_dataset_name(dataset)
        fs, base = self._fs()
        return fs, f"{base}/{KEYS_DIR}/{dataset}"

    def key_ids(self, dataset: str) -> list[str]:
        fs, folder = self.folder(dataset)
        infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        return sorted(i.base_name.removesuffix(".json") for i in infos if i.base_name.endswith(".json"))

    def read(self, dataset: str, key_id: str) -> WrappedKey:
        """The wrapped data key ``key_id`` of ``dataset``.

        Raises:
            DecryptionError: there is no such key file, or it is not a wrapped key.
        """
        fs, folder = self.folder(dataset)
        path = f"{folder}/{key_id}.json"
        try:
            with fs.open_input_stream(path) as src:
                raw = src.read(_MAX_KEY_FILE_BYTES)
            return WrappedKey.model_validate_json(raw)
        except (OSError, ValueError):
            raise DecryptionError(
                f"data key {key_id} of {dataset} is missing or unreadable at {path}",
                hint="restore the _sluice/keys folder from backup; values under a lost data key cannot be decrypted",
            ) from None

    def write(self, dataset: str, key_id: str, wrapped: WrappedKey) -> None:
        """Store (or replace, atomically on a local disk) the wrapped data key ``key_id``."""
        fs, folder = self.folder(dataset)
        fs.create_dir(folder, recursive=True)
        body = json.dumps(wrapped.model_dump(mode="json"), indent=2).encode()
        path = f"{folder}/{key_id}.json"
        target = f"{path}.{uuid.uuid4().hex}.partial" if isinstance(fs, pafs.LocalFileSystem) else path
        with fs.open_output_stream(target) as out:
            out.write(body)
        if target != path:
            os.replace(target, path)


def new_data_key(store: KeyStore, dataset: str, kek: KeyEncryptionKey) -> DataKey:
    """Make a data key for ``dataset``, store it wrapped by ``kek``, and return it in the clear."""
    key_id = f"{datetime.now(timezone.utc):%Y%m%d%H%M%S}{secrets.token_hex(4)}"
    key = AESGCM.generate_key(bit_length=256)
    store.write(dataset, key_id, kek.wrap(key, context=_context(dataset, key_id)))
    return DataKey(dataset, key_id, key)


def current_data_key(store: KeyStore, dataset: str, kek: KeyEncryptionKey) -> DataKey:
    """The dataset's newest data key, made when it has none.

    Two writers that both find none make one each; both stay valid, since
    every value names the key it was encrypted under.
    """
    ids = store.key_ids(dataset)
    if not ids:
        return new_data_key(store, dataset, kek)
    return unwrap_data_key(store, dataset, ids[-1], kek)


def unwrap_data_key(store: KeyStore, dataset: str, key_id: str, kek: KeyEncryptionKey) -> DataKey:
    wrapped = store.read(dataset, key_id)
    return DataKey(dataset, key_id, kek.unwrap(wrapped, context=_context(dataset, key_id)))


def _context(dataset: str, key_id: str) -> bytes:
    return f"sluice-data-key:{dataset}:{key_id}".encode()


def _aad(dataset: str, column: str) -> bytes:
    return f"{dataset}\x00{column}".encode()


def encrypt_values(values: pa.Array | pa.ChunkedArray, key: DataKey, column: str) -> pa.Array:
    """Each value encrypted under ``key`` with a fresh nonce, bound to the dataset and ``column``; null stays null."""
    aead, aad = AESGCM(key.key), _aad(key.dataset, column)
    prefix = f"{CIPHER_PREFIX}{key.key_id}_"
    out: list[str | None] = []
    for value in values.cast(pa.string()).to_pylist():
        if value is None:
            out.append(None)
            continue
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = nonce + aead.encrypt(nonce, value.encode("utf-8"), aad)
        out.append(prefix + base64.urlsafe_b64encode(sealed).decode("ascii"))
    return pa.array(out, pa.string())


def key_id_of(text: str) -> str | None:
    """The data key a value was encrypted under; ``None`` when it is no encrypted value."""
    if not text.startswith(CIPHER_PREFIX):
        return None
    key_id, sep, _ = text[len(CIPHER_PREFIX) :].partition("_")
    return key_id if sep and key_id.isalnum() else None


def decrypt_value(text: str, key: DataKey, column: str) -> str:
    """The clear text of one encrypted value.

    Raises:
        DecryptionError: the value was tampered with, belongs to another column or dataset, or another key.
    """
    body = text[len(f"{CIPHER_PREFIX}{key.key_id}_") :]
    try:
        sealed = base64.urlsafe_b64decode(body.encode("ascii"))
        plain = AESGCM(key.key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(key.dataset, column))
        return plain.decode("utf-8")
    except (InvalidTag, ValueError, UnicodeError):
        raise DecryptionError(
            f"a value of {key.dataset}.{column} does not decrypt under data key {key.key_id}",
            hint="it was changed on disk, or copied from another column or dataset",
        ) from None


@dataclass
class Decrypter:
    """Decrypts the values of one dataset, unwrapping each data key once."""

    store: KeyStore
    dataset: str
    kek: KeyEncryptionKey
    _keys: dict[str, DataKey] = field(default_factory=dict, repr=False)

    def value(self, text: str | None, column: str) -> str | None:
        """The clear text of an encrypted value; any other text (or null) is returned as it is."""
        if text is None:
            return None
        key_id = key_id_of(text)
        if key_id is None:
            return text
        if key_id not in self._keys:
            self._keys[key_id] = unwrap_data_key(self.store, self.dataset, key_id, self.kek)
        return decrypt_value(text, self._keys[key_id], column)


@dataclass(frozen=True)
class Rewrapped:
    dataset: str
    key_id: str
    from_version: str
    to_version: str


def rewrap(store: KeyStore, datasets: Iterable[str], kek: KeyEncryptionKey) -> list[Rewrapped]:
    """Re-wrap every data key of ``datasets`` not wrapped by the KEK's current version; data files stay as they are.

    Raises:
        ConfigError: a data key cannot be unwrapped (its KEK version was retired before the re-wrap).
    """
    done = []
    for dataset in datasets:
        for key_id in store.key_ids(dataset):
            wrapped = store.read(dataset, key_id)
            if wrapped.version == kek.current_version():
                continue
            plain = kek.unwrap(wrapped, context=_context(dataset, key_id))
            fresh = kek.wrap(plain, context=_context(dataset, key_id))
            store.write(dataset, key_id, fresh)
            done.append(Rewrapped(dataset, key_id, wrapped.version, fresh.version))
    return done
