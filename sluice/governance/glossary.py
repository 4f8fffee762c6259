"""The business glossary: terms the contracts' columns link to, and a lint of naming across datasets.

``glossary.yaml`` sits beside the contracts. Each term has a name, an owner,
a definition, the column type its values take, the class of personal data
it is (if any) and the other column names it may go by. A contract column
links to a term with ``term: NAME``.

:func:`lint` finds, across every contract:

- ``same name, different types``: a column name typed differently in two datasets;
- ``same name, different terms``: a column name linked to two terms (two meanings);
- ``naming conflict``: a term linked from columns of different names, some of
  which are neither its name nor one of its synonyms;
- ``type mismatch``: a column whose type is not its term's;
- ``pii mismatch``: a column whose ``pii`` tag disagrees with its term's PII class
  (``pii: true`` agrees with any class);
- ``unknown term``: a column linked to a term the glossary lacks.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sluice.errors import ContractError
from sluice.governance.classes import PiiClass, tag_text
from sluice.validate.contracts import GLOSSARY_FILE, ColumnType, Contract


class Term(BaseModel):
    """One business term."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    definition: str = Field(min_length=1)
    type: ColumnType
    pii: PiiClass | None = None
    synonyms: list[str] = Field(default_factory=list)

    @property
    def names(self) -> set[str]:
        """The column names this term may go by: its own and its synonyms."""
        return {self.name, *self.synonyms}


class Glossary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    terms: list[Term] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Glossary:
        seen: dict[str, str] = {}
        for term in self.terms:
            for name in [term.name, *term.synonyms]:
                if name in seen:
                    raise ValueError(f"{name!r} is both term or synonym of {seen[name]!r} and of {term.name!r}")
                seen[name] = term.name
        return self

    def term(self, name: str) -> Term | None:
        return next((t for t in self.terms if t.name == name), None)


def glossary_path(contracts_root: Path) -> Path:
    return contracts_root / GLOSSARY_FILE


def load_glossary(path: Path) -> Glossary:
    """Load ``glossary.yaml``; a missing file is an empty glossary.

    Raises:
        ContractError: the file is not valid YAML or breaks the glossary's rules.
    """
    if not path.is_file():
        return Glossary()
    return parse_glossary(path.read_text(encoding="utf-8"), str(path))


def parse_glossary(text: str, origin: str) -> Glossary:
    """The glossary in ``text`` (the content of ``glossary.yaml``; ``origin`` names it in errors).

    Raises:
        ContractError: not valid YAML, or breaks the glossary's rules.
    """
    path = origin
    try:
        raw = yaml.safe_load(text) or {}
        return Glossary.model_validate(raw)
    except yaml.YAMLError as exc:
        raise ContractError(f"glossary {path} is not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ContractError(
            f"glossary {path} is invalid: {problems}",
            hint="each term takes name, owner, definition, type and optionally pii and synonyms",
        ) from None


class FindingKind(StrEnum):
    SAME_NAME_TYPES = "same name, different types"
    SAME_NAME_TERMS = "same name, different terms"
    NAMING_CONFLICT = "naming conflict"
    TYPE_MISMATCH = "type mismatch"
    PII_MISMATCH = "pii mismatch"
    UNKNOWN_TERM = "unknown term"


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    subject: str  # the column name or term the finding is about
    detail: str
    columns: list[str]  # dataset.column of each column involved


@dataclass(frozen=True)
class _Use:
    dataset: str
    column: str
    type: ColumnType
    term: str | None
    pii: bool | PiiClass

    @property
    def where(self) -> str:
        return f"{self.dataset}.{self.column}"


def _uses(contracts: list[Contract]) -> list[_Use]:
    return [_Use(c.name, s.name, s.type, s.term, s.pii) for c in contracts for s in c.columns]


def _by_name(uses: list[_Use]) -> list[Finding]:
    found = []
    groups: dict[str, list[_Use]] = defaultdict(list)
    for use in uses:
        groups[use.column].append(use)
    for name, group in sorted(groups.items()):
        types = sorted({u.type.value for u in group})
        if len(types) > 1:
            detail = "; ".join(f"{u.where} {u.type.value}" for u in group)
            found.append(Finding(FindingKind.SAME_NAME_TYPES, name, detail, [u.where for u in group]))
        terms = sorted({u.term for u in group if u.term is not None})
        if len(terms) > 1:
            detail = "; ".join(f"{u.where} -> {u.term}" for u in group if u.term is not None)
            found.append(Finding(FindingKind.SAME_NAME_TERMS, name, detail, [u.where for u in group]))
    return found


def _by_term(uses: list[_Use], glossary: Glossary) -> list[Finding]:
    found = []
    linked: dict[str, list[_Use]] = defaultdict(list)
    for use in uses:
        if use.term is not None:
            linked[use.term].append(use)
    for name, group in sorted(linked.items()):
        term = glossary.term(name)
        if term is None:
            close = difflib.get_close_matches(name, [t.name for t in glossary.terms], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            found.append(
                Finding(FindingKind.UNKNOWN_TERM, name, f"not in the glossary{hint}", [u.where for u in group])
            )
            continue
        names = {u.column for u in group}
        strangers = sorted(names - term.names)
        if len(names) > 1 and strangers:
            detail = f"also named {', '.join(strangers)}: rename, or list as synonyms of {name}"
            found.append(Finding(FindingKind.NAMING_CONFLICT, name, detail, [u.where for u in group]))
        found += _against_term(term, group)
    return found


def _against_term(term: Term, group: list[_Use]) -> list[Finding]:
    found = []
    for use in group:
        if use.type != term.type:
            detail = f"{use.where} is {use.type.value}, the term {term.name} is {term.type.value}"
            found.append(Finding(FindingKind.TYPE_MISMATCH, term.name, detail, [use.where]))
        agrees = (use.pii is True and term.pii is not None) or (use.pii or None) == term.pii
        if not agrees:
            detail = f"{use.where} has pii {tag_text(use.pii)}, the term {term.name} is {term.pii or 'not personal'}"
            found.append(Finding(FindingKind.PII_MISMATCH, term.name, detail, [use.where]))
    return found


def lint(contracts: list[Contract], glossary: Glossary) -> list[Finding]:
    """Every naming, type and PII inconsistency across ``contracts`` and against ``glossary``."""
    uses = _uses(contracts)
    return _by_name(uses) + _by_term(uses, glossary)
