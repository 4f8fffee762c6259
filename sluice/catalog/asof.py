"""What Sluice believed at a date: the contracts, glossary and access policies of the newest commit before it.

Contracts, the glossary and the access policies are versioned in git beside
the code, so "what did we believe then" is those folders at the last commit
at or before the date.
A contract that no longer parses under today's rules is listed as unreadable
rather than dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sluice.access.policy import Policy, parse_policy
from sluice.errors import ContractError, PolicyError
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
    unreadable: dict[str, str] = field(default_factory=dict)  # contract or policy: why it does not parse today
    policies: dict[str, Policy] = field(default_factory=dict)  # dataset: its access policy at that commit

    def contract(self, name: str) -> Contract | None:
        return next((c for c in self.contracts if c.name == name), None)


def ensure_aware(when: datetime) -> datetime:
    """``when`` with a time zone (UTC when it has none)."""
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _policies_at(
    repo: Repo, sha: str, policies: Path | None, names: list[str]
) -> tuple[dict[str, Policy], dict[str, str]]:
    """The access policies of ``names`` at ``sha``, when their folder is in the same checkout."""
    top = repo.top.resolve()
    if policies is None or not policies.resolve().is_relative_to(top):
        return {}, {}
    folder = Repo(repo.top, policies.resolve().relative_to(top).as_posix())
    found: dict[str, Policy] = {}
    bad: dict[str, str] = {}
    for name in names:
        text = folder.show(sha, name)
        if text is not None:
            try:
                found[name] = parse_policy(text.encode(), Path(f"{folder.path(name)}@{sha[:10]}"), name)
            except PolicyError as exc:
                bad[f"policy {name}"] = str(exc)
    return found, bad


def metadata_as_of(root: Path, when: datetime, policies: Path | None = None) -> MetadataAt:
    """The contracts, glossary and (from ``policies``) access policies at the newest commit at or before ``when``.

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
    held, bad = _policies_at(repo, sha, policies, [c.name for c in contracts])
    return MetadataAt(asked, sha, date, contracts, glossary, unreadable | bad, held)
