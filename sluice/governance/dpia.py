"""Data-protection impact assessment (DPIA) drafts from what Sluice knows of a dataset.

A draft is Markdown with two kinds of sections:

- **generated** ones, between ``<!-- sluice:begin NAME -->`` and
  ``<!-- sluice:end NAME -->``: the processing (owner, purposes, source and
  apply mode), the personal data (PII columns, their classes, glossary terms
  and protection), lineage, retention, access and safeguards. They are
  rewritten from the contract, glossary and lineage each time;
- **human** ones (purpose and legal basis, necessity, risks, measures,
  sign-off): written once as prompts, then never touched by Sluice.

:func:`refresh` rewrites the generated sections of an existing draft and
keeps everything else as the humans left it; :func:`stale_sections` names the
generated sections that no longer match, so a check can fail when a contract
changes and its DPIA was not brought up to date.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sluice.catalog.entries import CatalogEntry
from sluice.errors import ContractError

BEGIN = "<!-- sluice:begin {name} -->"
END = "<!-- sluice:end {name} -->"
_BLOCK = re.compile(r"<!-- sluice:begin ([a-z-]+) -->\n.*?<!-- sluice:end \1 -->", re.DOTALL)
TO_COMPLETE = "_To complete by the data owner and the data-protection officer._"

HUMAN_SECTIONS = {
    "Purpose and legal basis": "The lawful basis for each purpose above (GDPR Art. 6, and Art. 9 for special "
    "categories), and who decided it.",
    "Necessity and proportionality": "Why each personal-data column is needed for the purposes, and what would "
    "be lost without it.",
    "Risks to data subjects": "Likelihood and severity of each risk (unauthorised access, re-identification, "
    "loss, inaccuracy, over-retention).",
    "Measures to address the risks": "What reduces each risk beyond the safeguards Sluice applies, with an "
    "owner and a date.",
    "Sign-off": "Data owner, data-protection officer, date and decision.",
}


@dataclass(frozen=True)
class DpiaFacts:
    """What the generated sections say; fields Sluice cannot know for the dataset stay empty."""

    entry: CatalogEntry
    retention: str | None = None  # e.g. "400d on order_ts"; None: no policy
    protections: Mapping[str, str] = field(default_factory=dict)  # column: how its values are protected
    policies: tuple[str, ...] = ()  # the access policies that govern reads of the dataset
    safeguards: tuple[str, ...] = ()  # platform-wide measures (signed manifests, audit, ...)


def _bullets(items: tuple[str, ...] | list[str], empty: str) -> str:
    return "\n".join(f"- {i}" for i in items) if items else f"- {empty}"


def _processing(f: DpiaFacts) -> str:
    e = f.entry
    return (
        f"**Dataset:** `{e.dataset}` (contract version {e.version}), kept as `{e.mode}` by key "
        f"`{', '.join(e.primary_key)}`, fresh within {e.freshness_sla}.\n\n**Owner:** {e.owner}\n\n"
        f"**Description:** {e.description or '(none in the contract)'}\n\n**Purposes (from the contract):**\n\n"
        + _bullets(e.purposes, "none declared: add `purposes:` to the contract")
        + f"\n\n**Ingested by:** {', '.join(f'`{d}`' for d in e.deployments) or 'no deployment names it'}"
    )


def _personal_data(f: DpiaFacts) -> str:
    pii = [c for c in f.entry.columns if c.pii]
    if not pii:
        return "No column of the contract is tagged as personal data (`ops pii scan` checks a sample)."
    rows = ["| column | class | term | meaning | protection |", "| --- | --- | --- | --- | --- |"]
    rows += [
        f"| `{c.name}` | {c.pii} | {c.term or '-'} | {(c.term_definition or c.description or '-').replace('|', '/')} "
        f"| {f.protections.get(c.name, 'stored in clear')} |"
        for c in pii
    ]
    return "\n".join(rows)


def _lineage(f: DpiaFacts) -> str:
    e = f.entry
    return (
        f"- upstream: {', '.join(e.upstream) or 'none known'}\n- downstream: {', '.join(e.downstream) or 'none known'}"
        f"\n\n`ops lineage impact {e.dataset}` lists what the run records add."
    )


def _retention(f: DpiaFacts) -> str:
    return f"- {f.retention}" if f.retention else "- no retention policy: rows are kept until erased"


def generated_sections(f: DpiaFacts) -> dict[str, tuple[str, str]]:
    """Each generated section by its marker name: its heading and body."""
    return {
        "processing": ("Description of the processing", _processing(f)),
        "personal-data": ("Personal data", _personal_data(f)),
        "lineage": ("Where the data comes from and goes", _lineage(f)),
        "retention": ("Retention", _retention(f)),
        "access": ("Access", _bullets(f.policies, "no access policy: governed reads of this dataset are denied")),
        "safeguards": ("Safeguards Sluice applies", _bullets(f.safeguards, "none recorded")),
    }


def _block(name: str, heading: str, body: str) -> str:
    return f"{BEGIN.format(name=name)}\n## {heading}\n\n{body}\n{END.format(name=name)}"


def draft(f: DpiaFacts) -> str:
    """A new DPIA draft: the generated sections, then the human ones as prompts."""
    head = (
        f"# Data-protection impact assessment: {f.entry.dataset}\n\n"
        "Sections between `sluice:begin` and `sluice:end` markers are rewritten by `ops dpia draft` from the "
        "contract, glossary, lineage and policies; every other section is yours and is kept as you write it."
    )
    generated = [_block(n, h, b) for n, (h, b) in generated_sections(f).items()]
    human = [f"## {h}\n\n{prompt}\n\n{TO_COMPLETE}" for h, prompt in HUMAN_SECTIONS.items()]
    return "\n\n".join([head, *generated, *human]) + "\n"


def _blocks(text: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in _BLOCK.finditer(text)}


def refresh(existing: str, f: DpiaFacts) -> str:
    """``existing`` with its generated sections rewritten; a generated section it lacks is added at the end.

    Raises:
        ContractError: the text has a ``sluice:begin`` marker without its end (a hand edit broke it).
    """
    if existing.count("<!-- sluice:begin ") != len(_blocks(existing)):
        raise ContractError(
            "the DPIA has a sluice:begin marker without its matching sluice:end",
            hint="restore the marker pair, or move the file away and run `ops dpia draft` again",
        )
    fresh = {n: _block(n, h, b) for n, (h, b) in generated_sections(f).items()}
    text = _BLOCK.sub(lambda m: fresh.get(m.group(1), m.group(0)), existing)
    missing = [block for name, block in fresh.items() if name not in _blocks(existing)]
    return text.rstrip("\n") + "".join(f"\n\n{b}" for b in missing) + "\n"


def stale_sections(existing: str, f: DpiaFacts) -> list[str]:
    """The generated sections of ``existing`` that differ from what Sluice knows now (or are missing)."""
    have = _blocks(existing)
    return [name for name, (h, b) in generated_sections(f).items() if have.get(name) != _block(name, h, b)]
