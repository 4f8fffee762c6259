"""Data subjects: ``key=value`` pairs that name a person's rows, and where a subject's values are stored.

A subject is never kept or printed in clear text: certificates and holds carry
:attr:`Subject.digest` (sha256 of the key and value) and the key alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pyarrow as pa

from sluice.errors import ConfigError
from sluice.governance.classes import Protection
from sluice.governance.glossary import Glossary
from sluice.governance.kek import load_token_keyring
from sluice.governance.tokens import tokenise
from sluice.settings import Settings, get_settings
from sluice.validate.contracts import Contract

MAX_VALUE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Subject:
    """One identifying attribute of a data subject: a column or glossary term name and its value."""

    key: str
    value: str

    @property
    def digest(self) -> str:
        """sha256 of the key and value, the only form in which a subject is written down."""
        return subject_digest(self.key, self.value)

    @property
    def label(self) -> str:
        return f"{self.key}=sha256:{self.digest[:16]}"


def subject_digest(key: str, value: str) -> str:
    return hashlib.sha256(f"{key}\x00{value}".encode("utf-8", "surrogatepass")).hexdigest()


def ensure_subject(text: str) -> Subject:
    """Parse ``key=value`` (the value may hold any character, ``=`` included).

    Raises:
        ConfigError: no ``=``, an empty key or value, or a value beyond :data:`MAX_VALUE_BYTES`.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or not value:
        raise ConfigError(
            "a subject must look like key=value, with a non-empty key and value",
            hint="for example --subject email=jane@example.com or --subject customer_id=C000001",
        )
    if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise ConfigError(
            f"the value of subject {key!r} is longer than {MAX_VALUE_BYTES} bytes",
            hint="a subject value is one identifier such as an e-mail address or a customer id",
        )
    return Subject(key, value)


def key_names(key: str, glossary: Glossary) -> set[str]:
    """The names ``key`` goes by: itself and, when it names a glossary term or a synonym, the term and its synonyms."""
    term = next((t for t in glossary.terms if key in t.names), None)
    return {key, *(term.names if term else ())}


def subject_columns(contract: Contract, key: str, glossary: Glossary | None = None) -> list[str]:
    """The columns of ``contract`` that hold the subject attribute ``key``: by name or glossary term (or synonym)."""
    names = key_names(key, glossary or Glossary())
    return [c.name for c in contract.columns if c.name in names or c.term in names]


def stored_values(contract: Contract, column: str, value: str, settings: Settings | None = None) -> list[str]:
    """The values the lake may store in ``column`` of ``contract``'s dataset for the subject value ``value``.

    A tokenised column (``protect: token``) stores the value's token: under
    every key version of the keyring, since rows written before a rotation
    keep their older tokens. The value itself is looked for too (rows written
    before the column was protected). An encrypted column's ciphertext differs
    for every write and cannot be matched: those rows are found through
    another of the subject's keys (the dataset's primary key, a tokenised
    e-mail), and the docs say so.

    Raises:
        ConfigError: the column is tokenised and no tokenisation keyring is configured.
    """
    spec = next((c for c in contract.columns if c.name == column), None)
    if spec is None or spec.protect is not Protection.TOKEN:
        return [value]
    keyring = load_token_keyring((settings or get_settings()).protect)
    values = pa.array([value], pa.string())
    return [value, *(str(tokenise(values, keyring, version)[0]) for version in sorted(keyring.keys))]
