"""``ops catalog``: find datasets and columns, and show what Sluice knows of a dataset, now or at a date."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    console,
    exit_with_error,
    exit_with_success,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from sluice.catalog.entries import CatalogEntry

app = typer.Typer(
    help="The catalog: each dataset's columns, terms, owners, PII tags, freshness, lineage and quality; "
    "search it, or show it as it was at a date.",
    no_args_is_help=True,
)


@app.command("list")
@with_cli_exception_handling
def list_datasets(*, output: OutputOption = OutputFormat.TABLE) -> None:
    """List every dataset with a contract: owner, apply mode, freshness SLA and PII columns."""
    from sluice.catalog.known import known_catalog

    entries = known_catalog(load_settings())
    if output is OutputFormat.JSON:
        print_json(entries)
        return
    print_fitted(
        [key("Dataset"), text("Owner"), key("Mode"), key("SLA"), text("PII columns")],
        [
            [cell(e.dataset), cell(e.owner), cell(e.mode), cell(e.freshness_sla), cell(", ".join(e.pii_columns))]
            for e in entries
        ],
    )


@app.command("search")
@with_cli_exception_handling
def search(
    words: Annotated[str, typer.Argument(metavar="TEXT", help="Words that must all occur in one field.")],
    *,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Find datasets and columns by name, glossary term, tag, PII class, owner or description.

    Names rank before terms, terms before tags and PII classes, those before owners and descriptions.
    Exits 1 when nothing matches.
    """
    from sluice.catalog.known import known_catalog
    from sluice.catalog.search import search as find

    hits = find(known_catalog(load_settings()), words)
    if output is OutputFormat.JSON:
        print_json(hits)
    elif hits:
        print_fitted(
            [key("Dataset"), key("Column"), key("Matched"), text("Value", min_width=20)],
            [[cell(h.dataset), cell(h.column or "-"), cell(h.field), cell(h.text)] for h in hits],
        )
    if not hits:
        exit_with_error(f"nothing in the catalog matches {words!r}", hint="`ops catalog list` shows every dataset")


def _parse_date(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        exit_with_error(
            f"--as-of {value!r} is not a date",
            hint="give an ISO 8601 date or time: 2026-11-30 or 2026-11-30T12:00Z",
            code=2,
        )


def _find(entries: list[CatalogEntry], dataset: str) -> CatalogEntry:
    found = next((e for e in entries if e.dataset == dataset), None)
    if found is None:
        exit_with_error(
            f"no dataset named {dataset!r} in the catalog",
            hint=f"known datasets: {', '.join(e.dataset for e in entries) or 'none'}",
        )
    return found


@app.command("show")
@with_cli_exception_handling
def show(
    dataset: Annotated[str, typer.Argument(help="The dataset.")],
    *,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", metavar="DATE", help="Show the committed contract and glossary of that date."),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show a dataset: its columns with terms and PII tags, owner, freshness, lineage and recent runs.

    With --as-of, the contract, glossary and access policy of the newest commit at or before DATE ("what did
    we believe then"); lineage comes from those contracts, and run figures are left out.
    """
    from sluice.catalog.known import catalog_as_of, known_catalog

    settings = load_settings()
    if as_of is None:
        entry, origin = _find(known_catalog(settings), dataset), "now"
    else:
        then, entries = catalog_as_of(settings, _parse_date(as_of))
        entry, origin = _find(entries, dataset), f"as of commit {then.commit[:10]} ({then.committed_at})"
    if output is OutputFormat.JSON:
        print_json({"as_of": origin, "entry": entry})
        return
    _print(entry, origin)


def _print(e: CatalogEntry, origin: str) -> None:
    head = Text(f"{e.dataset} v{e.version}", style="bold cyan")
    head.append(f"  {origin}\n", style="dim")
    head.append(f"{e.description}\n" if e.description else "")
    head.append(f"owner {e.owner} · {e.mode} · key {', '.join(e.primary_key)} · freshness {e.freshness_sla}")
    head.append(f"\ntags: {', '.join(e.tags) or '-'}")
    head.append(f"\nupstream: {', '.join(e.upstream) or '-'} · downstream: {', '.join(e.downstream) or '-'}")
    head.append(f"\ndeployments: {', '.join(e.deployments) or '-'}")
    head.append("\naccess: " + ("\n  ".join(["", *e.access]) if e.access else "no policy: governed reads are denied"))
    console.print(head)
    print_fitted(
        [key("Column"), key("Type"), key("PII"), key("Term"), text("Meaning", min_width=16)],
        [
            [
                cell(c.name),
                cell(c.type),
                cell(c.pii or "-"),
                cell(c.term or "-"),
                cell(c.term_definition or c.description),
            ]
            for c in e.columns
        ],
    )
    if not e.quality:
        exit_with_success("no runs recorded" if origin == "now" else "")
    print_fitted(
        [key("Run"), key("Status"), number("Read"), number("Written"), number("Quarantined")],
        [
            [cell(q.run_id[:12]), cell(q.status), cell(q.rows_read), cell(q.rows_written), cell(q.rows_quarantined)]
            for q in e.quality
        ],
    )
    note(f"the {len(e.quality)} newest run(s)")
