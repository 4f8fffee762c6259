"""Failure signatures: what makes two failures "the same" for grouping and runbook matching.

A flow failure's signature is its flow, the failed task, the exception type
(with its base classes, for matching) and the message with its variable
parts normalised away: numbers, UUIDs, hex ids, quoted values, paths and URLs
become placeholders, so ``file /drop/a.csv row 17`` and ``file /drop/b.csv
row 912`` are one signature. The dedup key is a hash of flow, task,
exception type and normalised message.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_RULES = [
    (re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.I), "<url>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<uuid>"),
    (re.compile(r"(?:~|\.{1,2})?(?:/[\w.@%+=:,-]+){2,}/?"), "<path>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<value>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"\b\d+(?:[.:]\d+)*\b"), "<n>"),
    (re.compile(r"\s+"), " "),
]
TOKEN = re.compile(r"(\w+)=(\S+)")


def normalise(message: str, limit: int = 300) -> str:
    """``message`` with its variable parts replaced by placeholders (first line, at most ``limit`` chars)."""
    text = (message.strip().splitlines() or [""])[0]
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return text.strip()[:limit]


@dataclass(frozen=True)
class FailureSignature:
    flow: str
    task: str
    exception_type: str
    message: str  # normalised
    bases: tuple[str, ...] = ()

    @classmethod
    def of(cls, flow: str, task: str | None, exc: BaseException | None, message: str = "") -> FailureSignature:
        if exc is None:
            return cls(flow, task or "-", "Unknown", normalise(message))
        bases = tuple(k.__name__ for k in type(exc).__mro__[1:] if k not in (Exception, BaseException, object))
        return cls(flow, task or "-", type(exc).__name__, normalise(str(exc) or message), bases)

    @property
    def dedup_key(self) -> str:
        digest = hashlib.sha256("|".join((self.flow, self.task, self.exception_type, self.message)).encode())
        return f"flow-failure:{digest.hexdigest()[:16]}"

    @property
    def text(self) -> str:
        """``flow=… task=… exception=… bases=… message=…`` (the form stored on the incident)."""
        bases = ",".join(self.bases) or "-"
        return f"flow={self.flow} task={self.task} exception={self.exception_type} bases={bases} message={self.message}"


def signature_fields(text: str) -> dict[str, str]:
    """The ``key=value`` fields of a stored signature (``message`` keeps the rest of the line)."""
    head, _, message = text.partition(" message=")
    fields = dict(TOKEN.findall(head))
    if message or "message=" in text:
        fields["message"] = message
    return fields
