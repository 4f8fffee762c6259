"""Docs pages of the catalog: an index and a page per dataset, generated from the contracts at build time.

Each page shows what :mod:`sluice.catalog` knows: the contract's columns with
their glossary terms and PII tags, owner, apply mode, freshness SLA, the
datasets upstream and downstream (declared in contracts), the deployments
that ingest it and, when the site is built where runs were recorded, the
recent runs' figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sluice.access.policy import PolicyError
from sluice.catalog.entries import CatalogEntry, build_catalog
from sluice.catalog.known import access_rules
from sluice.governance.glossary import glossary_path, load_glossary
from sluice.lineage.graph import build_graph
from sluice.lineage.known import contracts, deployments
from sluice.runs.records import RunReport
from sluice.settings import get_settings
from tools.sitegen import SiteError

INDEX = "catalog/index.md"


@dataclass(frozen=True)
class CatalogPage:
    page: str
    title: str
    markdown: str


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ") or "-"


def _links(names: tuple[str, ...], known: set[str]) -> str:
    return ", ".join(f"[{n}]({n}.md)" if n in known else f"`{n}`" for n in names) or "-"


def _quality(e: CatalogEntry) -> list[str]:
    if not e.quality:
        return [
            "No runs were recorded where this page was built; "
            f"`ops catalog show {e.dataset}` prints the newest runs' figures."
        ]
    rows = [
        "| run | status | read | written | quarantined | quarantine rate |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    rows += [
        f"| `{q.run_id[:12]}` | {q.status} | {q.rows_read:,} | {q.rows_written:,} | {q.rows_quarantined:,} | "
        f"{q.quarantine_rate:.2%} |"
        for q in e.quality
    ]
    return rows


def render(e: CatalogEntry, known: set[str]) -> str:
    lines = [f"# {e.dataset}", "", e.description or "(no description in the contract)", ""]
    lines += [
        "| owner | version | compatibility | mode | key | freshness SLA | tags |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {_cell(e.owner)} | {e.version} | {e.compatibility} | {e.mode} | {_cell(', '.join(e.primary_key))} "
        f"| {e.freshness_sla} | {_cell(', '.join(e.tags))} |",
        "",
        "## Columns",
        "",
        "| column | type | nullable | PII | term | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| `{c.name}` | {_cell(c.type)} | {'yes' if c.nullable else 'no'} | {_cell(c.pii)} | {_cell(c.term)} "
        f"| {_cell(c.term_definition or c.description)} |"
        for c in e.columns
    ]
    lines += [
        "",
        "## Lineage",
        "",
        f"- upstream: {_links(e.upstream, known)}",
        f"- downstream: {_links(e.downstream, known)}",
        f"- deployments: {', '.join(f'`{d}`' for d in e.deployments) or '-'}",
        "",
        f"`ops lineage impact {e.dataset}` adds what the run records know.",
        "",
        "## Access",
        "",
        *([f"- {rule}" for rule in e.access] or ["No access policy: governed reads of this dataset are denied."]),
        "",
        "## Recent quality",
        "",
    ]
    return "\n".join([*lines, *_quality(e), ""])


def render_index(entries: list[CatalogEntry]) -> str:
    lines = [
        "# Catalog",
        "",
        "A page per dataset, generated from its contract and the glossary. "
        "`ops catalog search TEXT` finds datasets and columns by name, term, tag, PII class, owner or "
        "description; `ops catalog show DATASET --as-of DATE` shows what the contracts said at a date.",
        "",
        "| dataset | owner | mode | freshness SLA | PII columns |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| [{e.dataset}]({e.dataset}.md) | {_cell(e.owner)} | {e.mode} | {e.freshness_sla} | "
        f"{_cell(', '.join(e.pii_columns))} |"
        for e in entries
    ]
    return "\n".join([*lines, ""])


def catalog_pages(contracts_root: Path, runs: Mapping[str, list[RunReport]] | None = None) -> list[CatalogPage]:
    """The index page, then a page per dataset by name."""
    found = contracts(contracts_root)
    graph = build_graph(found, [], {}, deployments())
    settings = get_settings()
    try:
        access = {c.name: access_rules(settings, c.name) for c in found}
    except PolicyError as exc:
        raise SiteError(str(exc), hint="fix the policy file; `ops lake query` refuses it too") from None
    entries = build_catalog(found, load_glossary(glossary_path(contracts_root)), graph, runs, access)
    known = {e.dataset for e in entries}
    return [CatalogPage(INDEX, "Catalog", render_index(entries))] + [
        CatalogPage(f"catalog/{e.dataset}.md", e.dataset, render(e, known)) for e in entries
    ]


def recorded_runs() -> dict[str, list[RunReport]] | None:
    """The recent runs of each dataset where the site is built, if a run store is there (None otherwise).

    A missing SQLite store is not created, and a store that cannot be read leaves the figures out.
    """
    import sqlalchemy as sa

    from sluice.catalog.known import recent_runs
    from sluice.errors import SluiceError
    from sluice.settings import get_settings

    settings = get_settings()
    url = settings.metadata_db_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    try:
        return recent_runs(settings, [c.name for c in contracts(settings.contracts_root())])
    except (sa.exc.SQLAlchemyError, SluiceError):
        return None
