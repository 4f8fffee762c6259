"""What is downstream of a dataset (or one of its columns), from what Sluice knows.

Edges ``A -> B`` come from:

- run records: a run of ``B`` read from ``A``'s lake table (its source is
  the table's location or a path under it), ``via="runs"``; column by column,
  ``B``'s column read from field ``c`` derives from ``A.c``;
- contracts: ``A``'s contract lists ``B`` under ``downstream:``,
  ``via="contract"``; its columns are not known, so all of ``B`` is affected.

Each dataset carries its owner (its contract) and the deployments that
ingest it (``prefect.yaml`` parameters). :func:`impact` walks the edges
breadth first, each dataset once, by its shortest path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sluice.errors import ContractError
from sluice.paths import ensure_dataset_name
from sluice.validate.contracts import Contract

RUNS = "runs"
CONTRACT = "contract"


@dataclass(frozen=True)
class Edge:
    upstream: str
    downstream: str
    via: str  # RUNS or CONTRACT


@dataclass(frozen=True)
class Impact:
    """One dataset downstream of the one asked about."""

    dataset: str
    depth: int
    path: tuple[str, ...]  # from the dataset asked about to this one, both included
    via: str
    owner: str
    deployments: tuple[str, ...]
    columns: tuple[str, ...] | None  # the affected columns; None: all of them (or unknown)


@dataclass
class LineageGraph:
    contracts: dict[str, Contract] = field(default_factory=dict)
    deployments: dict[str, tuple[str, ...]] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def out_of(self, dataset: str) -> list[Edge]:
        return sorted((e for e in self.edges if e.upstream == dataset), key=lambda e: (e.downstream, e.via))


def _under(source: str, location: str) -> bool:
    source, location = source.rstrip("/"), location.rstrip("/")
    return source == location or source.startswith(location + "/")


def build_graph(
    contracts: Iterable[Contract],
    run_sources: Iterable[tuple[str, str]],
    locations: Mapping[str, str],
    deployments: Mapping[str, Iterable[str]] | None = None,
) -> LineageGraph:
    """The graph of ``contracts``, the ``(dataset, source)`` pairs of recorded runs and each dataset's table
    ``locations`` (dataset name to its lake table URI)."""
    graph = LineageGraph(
        contracts={c.name: c for c in contracts},
        deployments={k: tuple(sorted(v)) for k, v in (deployments or {}).items()},
    )
    edges: set[Edge] = set()
    for dataset, source in run_sources:
        for upstream, location in locations.items():
            if upstream != dataset and _under(source, location):
                edges.add(Edge(upstream, dataset, RUNS))
    for contract in graph.contracts.values():
        edges.update(Edge(contract.name, d, CONTRACT) for d in contract.downstream if d != contract.name)
    graph.edges = sorted(edges, key=lambda e: (e.upstream, e.downstream, e.via))
    return graph


def derived_columns(graph: LineageGraph, edge: Edge, columns: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The columns of ``edge.downstream`` read from ``columns`` of its upstream; None: all (or unknown)."""
    target = graph.contracts.get(edge.downstream)
    if columns is None or edge.via != RUNS or target is None:
        return None
    wanted = set(columns)
    sep = target.nested.separator
    return tuple(c.name for c in target.columns if c.source_paths(sep)[0][0] in wanted)


def impact(graph: LineageGraph, dataset: str, column: str | None = None) -> list[Impact]:
    """Everything downstream of ``dataset`` (of its ``column``, when given), nearest first."""
    seen = {dataset}
    found: list[Impact] = []
    queue: deque[tuple[str, tuple[str, ...], tuple[str, ...] | None]] = deque(
        [(dataset, (dataset,), (column,) if column else None)]
    )
    while queue:
        here, path, columns = queue.popleft()
        for edge in graph.out_of(here):
            cols = derived_columns(graph, edge, columns)
            if edge.downstream in seen or cols == ():
                continue
            seen.add(edge.downstream)
            contract = graph.contracts.get(edge.downstream)
            step = (*path, edge.downstream)
            found.append(
                Impact(
                    dataset=edge.downstream,
                    depth=len(step) - 1,
                    path=step,
                    via=edge.via,
                    owner=contract.owner if contract else "",
                    deployments=graph.deployments.get(edge.downstream, ()),
                    columns=cols,
                )
            )
            queue.append((edge.downstream, step, cols))
    return found


def ensure_target(graph: LineageGraph, target: str) -> tuple[str, str | None]:
    """``DATASET`` or ``DATASET.COLUMN`` as a dataset the graph knows and, when given, a column of its contract.

    Raises:
        ContractError: an invalid name, a dataset the graph does not know, or a column its contract lacks.
    """
    dataset, _, column = target.partition(".")
    ensure_dataset_name(dataset, error=ContractError)
    known = set(graph.contracts) | {e.upstream for e in graph.edges} | {e.downstream for e in graph.edges}
    if dataset not in known:
        raise ContractError(
            f"no dataset named {dataset!r} in the contracts or the run records",
            hint=f"known datasets: {', '.join(sorted(known)) or 'none'}",
        )
    if not column:
        return dataset, None
    contract = graph.contracts.get(dataset)
    names = [c.name for c in contract.columns] if contract else []
    if column not in names:
        raise ContractError(
            f"dataset {dataset!r} has no column {column!r} in its contract",
            hint=f"its columns: {', '.join(names) or 'unknown (no contract)'}",
        )
    return dataset, column
