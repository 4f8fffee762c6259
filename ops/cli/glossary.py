"""``ops glossary``: the business terms contract columns link to, and the lint of naming across datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ops.cli._tables import key, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from sluice.governance.glossary import Finding

app = typer.Typer(
    help="The business glossary (glossary.yaml beside the contracts): list its terms, lint the contracts against it.",
    no_args_is_help=True,
)


@app.command("list")
@with_cli_exception_handling
def list_terms(*, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the glossary's terms: type, PII class, owner and synonyms."""
    from sluice.governance.glossary import glossary_path, load_glossary

    glossary = load_glossary(glossary_path(load_settings().contracts_root()))
    if output is OutputFormat.JSON:
        print_json([t.model_dump(mode="json") for t in glossary.terms])
        return
    print_fitted(
        [key("Term"), key("Type"), key("PII"), text("Owner"), text("Synonyms")],
        [[cell(t.name), cell(t.type), cell(t.pii), cell(t.owner), cell(", ".join(t.synonyms))] for t in glossary.terms],
    )


def _print(findings: list[Finding]) -> None:
    if findings:
        print_fitted(
            [key("Finding"), key("Subject"), text("Detail", min_width=24)],
            [[cell(f.kind), cell(f.subject), cell(f.detail)] for f in findings],
        )
    note(
        f"{len(findings)} finding(s)" if findings else "the contracts agree with each other and with the glossary",
        style="red" if findings else "green",
    )


@app.command("lint")
@with_cli_exception_handling
def lint(*, output: OutputOption = OutputFormat.TABLE) -> None:
    """Find naming conflicts across the contracts and disagreements with the glossary.

    Reports the same column name with different types or terms across
    datasets, different column names linked to one term (unless synonyms),
    columns whose type or pii tag disagrees with their term, and links to
    unknown terms. Exits 1 on any finding.
    """
    from sluice.governance.glossary import glossary_path, lint, load_glossary
    from sluice.validate.contracts import available_contracts, find_contract

    root = load_settings().contracts_root()
    glossary = load_glossary(glossary_path(root))
    findings = lint([find_contract(n, root) for n in available_contracts(root)], glossary)
    if output is OutputFormat.JSON:
        print_json(findings)
    else:
        _print(findings)
    if findings:
        raise typer.Exit(1)
