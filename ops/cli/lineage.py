"""``ops lineage``: what is downstream of a dataset or a column, before its source or contract changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text
from rich.tree import Tree

from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    console,
    exit_with_success,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from sluice.lineage.graph import Impact

app = typer.Typer(
    help="Lineage: what each dataset feeds, from contracts, run records and deployments.", no_args_is_help=True
)


@dataclass(frozen=True)
class ImpactReport:
    """The answer of ``ops lineage impact``."""

    dataset: str
    column: str | None
    downstream: list[Impact]


@app.command("impact")
@with_cli_exception_handling
def impact(
    target: Annotated[str, typer.Argument(metavar="DATASET[.COLUMN]", help="The dataset, or one of its columns.")],
    *,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List everything downstream of DATASET (or of its COLUMN), with the path, owner and deployments of each.

    Edges come from the run records (a dataset ingested from another's lake table) and from the datasets a
    contract lists under `downstream:`. Exits 0 whether or not anything is downstream.
    """
    from sluice.lineage.graph import ensure_target
    from sluice.lineage.graph import impact as downstream_of
    from sluice.lineage.known import known_graph

    graph = known_graph(load_settings())
    dataset, column = ensure_target(graph, target)
    report = ImpactReport(dataset, column, downstream_of(graph, dataset, column))
    if output is OutputFormat.JSON:
        print_json(report)
        return
    if not report.downstream:
        exit_with_success(f"nothing downstream of {target}")
    _print(report)
    note(f"{len(report.downstream)} downstream of {target}")


def _label(i: Impact, column_asked: bool) -> Text:
    label = Text(i.dataset, style="bold")
    label.append(" (declared)" if i.via == "contract" else "", style="dim")
    label.append(f"\nowner: {i.owner or '-'}")
    label.append(f"\ndeployments: {', '.join(i.deployments) or '-'}")
    if column_asked:
        label.append(f"\ncolumns: {', '.join(i.columns) if i.columns is not None else 'all'}")
    return label


def _print(report: ImpactReport) -> None:
    """A tree from the dataset asked about: each downstream dataset once, under the one it is fed by."""
    root = Tree(Text(report.dataset + (f".{report.column}" if report.column else ""), style="bold cyan"))
    nodes: dict[tuple[str, ...], Tree] = {(report.dataset,): root}
    for i in report.downstream:  # nearest first: a dataset's parent is always placed before it
        nodes[i.path] = nodes[i.path[:-1]].add(_label(i, report.column is not None))
    console.print(root)
