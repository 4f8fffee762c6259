"""Catalog entries: a dataset's contract, its glossary terms, lineage, deployments and recent quality figures.

An entry is built from what Sluice already keeps (the contract, ``glossary.yaml``,
the lineage graph and the run records); nothing in it is typed twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sluice.governance.glossary import Glossary
from sluice.lineage.graph import LineageGraph
from sluice.runs.records import RunReport
from sluice.validate.contracts import ColumnSpec, Contract


@dataclass(frozen=True)
class CatalogColumn:
    name: str
    type: str
    nullable: bool
    criticality: str
    description: str
    pii: str  # the PII class, "pii" for an untyped tag, "" for none
    term: str
    term_definition: str
    term_owner: str


@dataclass(frozen=True)
class QualityFigure:
    """One recent run of the dataset: what it read, wrote and quarantined."""

    run_id: str
    flow: str
    status: str
    finished_at: datetime | None
    rows_read: int
    rows_written: int
    rows_quarantined: int

    @property
    def quarantine_rate(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


@dataclass(frozen=True)
class CatalogEntry:
    dataset: str
    description: str
    owner: str
    version: int
    compatibility: str
    mode: str
    primary_key: tuple[str, ...]
    freshness_sla: str
    tags: tuple[str, ...]
    columns: tuple[CatalogColumn, ...]
    upstream: tuple[str, ...] = ()
    downstream: tuple[str, ...] = ()
    deployments: tuple[str, ...] = ()
    quality: tuple[QualityFigure, ...] = field(default_factory=tuple)
    purposes: tuple[str, ...] = ()
    access: tuple[str, ...] = ()  # the access policy's rules in words; () without a policy (reads are denied)

    @property
    def pii_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.pii)

    def column(self, name: str) -> CatalogColumn | None:
        return next((c for c in self.columns if c.name == name), None)


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _pii(spec: ColumnSpec) -> str:
    if spec.pii is True:
        return "pii"
    return str(spec.pii) if spec.pii else ""


def _column(spec: ColumnSpec, glossary: Glossary) -> CatalogColumn:
    term = glossary.term(spec.term) if spec.term else None
    return CatalogColumn(
        name=spec.name,
        type=str(spec.type) + (f"<{spec.items}>" if spec.items else ""),
        nullable=spec.nullable,
        criticality=str(spec.criticality),
        description=spec.description,
        pii=_pii(spec),
        term=spec.term or "",
        term_definition=term.definition if term else "",
        term_owner=term.owner if term else "",
    )


def quality_figures(runs: Iterable[RunReport]) -> tuple[QualityFigure, ...]:
    return tuple(
        QualityFigure(r.run_id, r.flow, r.status, r.finished_at, r.rows_read, r.rows_written, r.rows_quarantined)
        for r in runs
    )


def build_entry(
    contract: Contract,
    glossary: Glossary,
    graph: LineageGraph | None = None,
    runs: Iterable[RunReport] = (),
) -> CatalogEntry:
    """The catalog entry of ``contract``; ``graph`` adds lineage and deployments, ``runs`` quality figures."""
    up = sorted({e.upstream for e in graph.edges if e.downstream == contract.name}) if graph else []
    down = sorted({e.downstream for e in graph.out_of(contract.name)}) if graph else list(contract.downstream)
    return CatalogEntry(
        dataset=contract.name,
        description=contract.description,
        owner=contract.owner,
        version=contract.version,
        compatibility=str(contract.compatibility),
        mode=str(contract.mode),
        primary_key=tuple(contract.primary_key),
        freshness_sla=_duration(contract.freshness_sla),
        tags=tuple(contract.tags),
        columns=tuple(_column(c, glossary) for c in contract.columns),
        upstream=tuple(up),
        downstream=tuple(down),
        deployments=graph.deployments.get(contract.name, ()) if graph else (),
        quality=quality_figures(runs),
        purposes=tuple(contract.purposes),
    )


def build_catalog(
    contracts: Iterable[Contract],
    glossary: Glossary,
    graph: LineageGraph | None = None,
    runs: Mapping[str, list[RunReport]] | None = None,
    access: Mapping[str, tuple[str, ...]] | None = None,
) -> list[CatalogEntry]:
    """Every dataset's entry, by name; ``access`` gives each dataset's policy rules in words."""
    found, rules = runs or {}, access or {}
    entries = [
        dataclasses.replace(build_entry(c, glossary, graph, found.get(c.name, ())), access=rules.get(c.name, ()))
        for c in contracts
    ]
    return sorted(entries, key=lambda e: e.dataset)
