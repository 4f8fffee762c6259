"""The classes of personal data a contract may tag a column with, and a scan may find; how a column is protected.

Kept free of other Sluice imports: :mod:`sluice.validate.contracts` takes
its ``pii:`` values from here.
"""

from __future__ import annotations

from enum import StrEnum


class PiiClass(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    IBAN = "iban"
    CARD = "card"
    IP = "ip"
    NATIONAL_ID = "national_id"
    PERSON_NAME = "person_name"


class Protection(StrEnum):
    """How ingestion protects a PII column's values (:mod:`sluice.governance.protect`)."""

    TOKEN = "token"  # deterministic HMAC token: joins and counts work, the value is gone
    ENCRYPT = "encrypt"  # AES-GCM under the dataset's data key: recoverable through an audited reveal


def tag_text(tag: bool | PiiClass) -> str:
    """A contract's ``pii:`` value as shown: the class, ``pii`` for ``true``, ``-`` for none."""
    if isinstance(tag, PiiClass):
        return tag.value
    return "pii" if tag else "-"
