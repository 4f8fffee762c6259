"""Deterministic tokens of PII values: HMAC-SHA256 under a versioned key, vectorised over Arrow arrays.

A token reads ``tok_v<version>_<32 base32 characters>``: the first 160 bits
of HMAC-SHA256(key of that version, the value's UTF-8 bytes). The same value
gives the same token under the same key version in every column and dataset,
so tables join on tokens without anyone seeing the values; the version
travels with the token, so a key rotation never makes a token ambiguous.

Only the distinct values of an array are hashed (an Arrow dictionary
encoding), once each, through OpenSSL's one-shot HMAC; encoding the digests
as text and spreading the tokens back over the rows is numpy and Arrow
compute, with no per-row Python.
"""

from __future__ import annotations

import hmac
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.governance.keyring import Keyring

TOKEN_PREFIX = "tok_v"
DIGEST_BYTES = 20  # 160 bits: 32 base32 characters
TOKEN_PATTERN = re.compile(r"^tok_v(\d+)_[a-z2-7]{32}$")
_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
_FIVE_BITS = np.array([16, 8, 4, 2, 1], dtype=np.uint8)


def _digests(values: pa.Array, key: bytes) -> np.ndarray:
    """HMAC-SHA256 of each (non-null) value, cut to :data:`DIGEST_BYTES`, as an (n, 20) uint8 matrix."""
    data = values.cast(pa.binary()).to_pylist()
    joined = b"".join(hmac.digest(key, v, "sha256")[:DIGEST_BYTES] for v in data)
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(data), DIGEST_BYTES)


def _token_text(digests: np.ndarray, version: int) -> pa.Array:
    """``tok_v<version>_`` and the base32 of each digest row, built as one buffer of fixed-width strings."""
    n = digests.shape[0]
    bits = np.unpackbits(digests, axis=1).reshape(n, -1, 5)
    chars = _ALPHABET[(bits * _FIVE_BITS).sum(axis=2, dtype=np.uint8)]
    prefix = np.frombuffer(f"{TOKEN_PREFIX}{version}_".encode("ascii"), dtype=np.uint8)
    rows = np.hstack([np.broadcast_to(prefix, (n, len(prefix))), chars])
    width = rows.shape[1]
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    return pa.Array.from_buffers(pa.string(), n, [None, offsets, pa.py_buffer(rows.tobytes())])


def _distinct(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """The distinct non-null values and, per row, the position of its value among them (null for null)."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    encoded = array.dictionary_encode()
    return encoded.dictionary, encoded.indices


def tokenise(values: pa.Array | pa.ChunkedArray, keyring: Keyring, version: int | None = None) -> pa.Array:
    """The token of each value under ``version`` (default: the keyring's current one); null stays null."""
    version = keyring.current if version is None else version
    distinct, indices = _distinct(values)
    if len(distinct) == 0:
        return pa.nulls(len(indices), pa.string())
    tokens = _token_text(_digests(distinct, keyring.key(version)), version)
    return pc.take(tokens, indices)


def translations(values: pa.Array | pa.ChunkedArray, keyring: Keyring) -> pa.Table:
    """For the distinct values, the token under each older key version and the token under the current one.

    Empty when the keyring holds one version. :mod:`sluice.governance.token_map` keeps these pairs, so
    tokens made before a rotation still join with tokens made after it.
    """
    older = sorted(v for v in keyring.keys if v < keyring.current)
    distinct, _ = _distinct(values)
    if not older or len(distinct) == 0:
        return pa.table({"token": pa.array([], pa.string()), "current": pa.array([], pa.string())})
    current = _token_text(_digests(distinct, keyring.key(keyring.current)), keyring.current)
    olds = [_token_text(_digests(distinct, keyring.key(v)), v) for v in older]
    return pa.table({"token": pa.concat_arrays(olds), "current": pa.concat_arrays([current] * len(olds))})


def token_version(token: str) -> int | None:
    """The key version a token was made with; ``None`` when the text is no token."""
    match = TOKEN_PATTERN.match(token)
    return int(match.group(1)) if match else None


def is_token(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Per value, whether it is a token (null for null)."""
    return pc.match_substring_regex(values, TOKEN_PATTERN.pattern)
