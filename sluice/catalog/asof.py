"""What Sluice believed at a date: the contracts and glossary of the newest commit at or before it.

Contracts and the glossary are versioned in git beside the code, so "what did
we believe then" is the contracts folder at the last commit before the date.
A contract that no longer parses under today's rules is listed as unreadable
rather than dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sluice.errors import ContractError
from sluice.governance.glossary import Glossary, parse_glossary
from sluice.validate.contracts import GLOSSARY_FILE, Contract, parse_contract
from sluice.validate.history import Repo


@dataclass(frozen=True)
class MetadataAt:
    """The contracts folder as it was at ``commit`` (committed at ``committed_at``)."""

    asked: datetime
    commit: str
    committed_at: str
    contracts: list[Contract]
    glossary: Glossary
    unreadable: dict[str, str] = field(default_factory=dict)  # contract name: why it does not parse today

    def contract(self, name: str) -> Contract | None:
        return next((c for c in self.contracts if c.name == name), None)


def ensure_aware(when: datetime) -> datetime:
    """``when`` with a time zone (UTC when it has none)."""
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def metadata_as_of(root: Path, when: datetime) -> MetadataAt:
    """The contracts and glossary under ``root`` at the newest commit at or before ``when``.

    Raises:
        ContractError: ``root`` is not in a git checkout, or nothing was committed there by ``when``.
    """
    repo = Repo.of(root)
    asked = ensure_aware(when)
    found = repo.last_before(asked.isoformat())
    if found is None:
        first = repo.first_commit_date()
        raise ContractError(
            f"the contracts folder had no commit at or before {asked.isoformat()}",
            hint=f"its history starts at {first}" if first else "its contracts are not committed yet",
        )
    sha, date = found
    contracts: list[Contract] = []
    unreadable: dict[str, str] = {}
    for name in repo.names(sha):
        try:
            contracts.append(parse_contract(repo.show(sha, name) or "", origin=f"{name}@{sha[:10]}"))
        except ContractError as exc:
            unreadable[name] = str(exc)
    text = repo.show(sha, GLOSSARY_FILE.removesuffix(".yaml"))
    glossary = parse_glossary(text, f"{GLOSSARY_FILE}@{sha[:10]}") if text else Glossary()
    return MetadataAt(asked, sha, date, contracts, glossary, unreadable)
