"""Versioned secret keys: a keyring holds every version of a key and names the one new data uses.

A keyring is JSON, kept in a Prefect Secret block (or, for development and
tests, a file named explicitly in the settings)::

    {"current": 2, "keys": {"1": "<base64 of 32 bytes>", "2": "<base64 of 32 bytes>"}}

Old versions stay in the keyring after a rotation: tokens carry the version
that made them, and wrapped data keys name the version that wrapped them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sluice.errors import ConfigError

KEY_BYTES = 32
_MAX_KEYRING_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Keyring:
    """Key versions by number, and the version new data uses. Its repr never shows a key."""

    current: int
    keys: dict[int, bytes] = field(repr=False)
    origin: str = ""

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ConfigError(
                f"the keyring {self.origin} names current version {self.current}, which it does not hold",
                hint="add that version's key or point `current` at one it holds",
            )
        for version, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise ConfigError(
                    f"key version {version} of the keyring {self.origin} has {len(key)} bytes, not {KEY_BYTES}",
                    hint="make keys with `ops protect keygen`",
                )

    def key(self, version: int) -> bytes:
        """The key of ``version``.

        Raises:
            ConfigError: the keyring does not hold that version (retired too early).
        """
        try:
            return self.keys[version]
        except KeyError:
            raise ConfigError(
                f"the keyring {self.origin} has no key version {version}",
                hint="a rotation keeps old versions in the keyring: restore the retired version",
            ) from None

    def rotated(self) -> Keyring:
        """This keyring with a new random version, made current."""
        version = max(self.keys) + 1
        return Keyring(version, {**self.keys, version: secrets.token_bytes(KEY_BYTES)}, self.origin)

    def to_json(self) -> str:
        keys = {str(v): base64.b64encode(k).decode("ascii") for v, k in sorted(self.keys.items())}
        return json.dumps({"current": self.current, "keys": keys}, indent=2)


def new_keyring(origin: str = "") -> Keyring:
    return Keyring(1, {1: secrets.token_bytes(KEY_BYTES)}, origin)


def parse_keyring(text: str, origin: str) -> Keyring:
    """A keyring from its JSON text.

    Raises:
        ConfigError: the text is not a keyring (the message never quotes it: it is secret).
    """
    hint = 'a keyring is {"current": N, "keys": {"N": "<base64 of 32 bytes>"}}; `ops protect keygen` makes one'
    try:
        raw = json.loads(text)
        current = int(raw["current"])
        keys = {int(v): base64.b64decode(k, validate=True) for v, k in dict(raw["keys"]).items()}
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise ConfigError(f"the keyring {origin} is not valid keyring JSON", hint=hint) from None
    if not keys or min(keys) < 1:
        raise ConfigError(f"the keyring {origin} holds no key versions (they count from 1)", hint=hint)
    return Keyring(current, keys, origin)


def read_keyring_file(path: Path) -> Keyring:
    """The keyring in ``path``.

    Raises:
        ConfigError: the file cannot be read or holds no keyring.
    """
    try:
        if path.stat().st_size > _MAX_KEYRING_BYTES:
            raise ConfigError(f"the keyring file {path} is too large to be a keyring", hint="check the path")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the keyring file {path}: {exc.strerror or exc}", hint="check the path"
        ) from None
    return parse_keyring(text, str(path))


def write_keyring_file(path: Path, keyring: Keyring, *, replace: bool = False) -> None:
    """Write ``keyring`` to ``path`` (mode 0600, atomically); an existing file is kept unless ``replace``.

    Raises:
        ConfigError: the file exists (and ``replace`` is false) or cannot be written.
    """
    if path.exists() and not replace:
        raise ConfigError(f"{path} exists already", hint="a keyring is never overwritten; rotate it instead")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(keyring.to_json())
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the keyring to {path}: {exc.strerror or exc}", hint="check the folder"
        ) from None


def read_keyring_block(name: str) -> Keyring:
    """The keyring in the Prefect Secret block ``name``.

    Raises:
        ConfigError: there is no such block, or it holds no keyring.
    """
    from prefect.blocks.system import Secret

    try:
        block = Secret.load(name)
    except ValueError:
        raise ConfigError(
            f"no Prefect Secret block named {name!r}", hint="create it with the keyring JSON, or fix the setting"
        ) from None
    if not isinstance(block, Secret):
        raise TypeError("Secret.load returned an awaitable: called from async code")
    value = block.get()
    text = value if isinstance(value, str) else json.dumps(value)
    return parse_keyring(text, f"in Secret block {name!r}")
