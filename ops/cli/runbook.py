"""``ops runbook``: list, show, match an incident to its runbooks, and lint them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.markdown import Markdown
from rich.text import Text

from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    console,
    exit_with_error,
    note,
    print_json,
    with_cli_exception_handling,
)

app = typer.Typer(help="Runbooks: list, show, match to an incident, lint.", no_args_is_help=True)


@app.command("list")
@with_cli_exception_handling
def list_runbooks(
    *,
    wide: Annotated[
        bool, typer.Option("--wide", help="Also show the alert rules of each runbook on a narrow terminal.")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List the runbooks."""
    from ops.runbooks.catalog import load_runbooks

    books = load_runbooks()
    if output is OutputFormat.JSON:
        print_json([b.model_dump(mode="json", exclude={"body"}) for b in books])
        return
    print_fitted(
        [key("Id"), key("Severity"), text("Title"), text("Alert rules", wide=True), key("Reviewed")],
        [
            [
                cell(b.id),
                cell(b.severity),
                cell(b.title),
                cell(", ".join(b.matches.alert_rules)),
                cell(str(b.last_reviewed)),
            ]
            for b in books
        ],
        wide=wide,
    )


@app.command("show")
@with_cli_exception_handling
def show(
    runbook: Annotated[str, typer.Argument(help="Runbook id.")], *, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Show a runbook."""
    from ops.runbooks.catalog import find_runbook, load_runbooks

    book = find_runbook(runbook, load_runbooks())
    if output is OutputFormat.JSON:
        print_json({**book.model_dump(mode="json"), "commands": book.commands(), "steps": book.steps()})
        return
    console.print(Markdown(book.body))


@app.command("match")
@with_cli_exception_handling
def match(
    incident: Annotated[str, typer.Argument(help="The incident, e.g. INC-42.")],
    *,
    resource: Annotated[
        str | None, typer.Option(help="Resource of the top correlated suspect: cpu, memory, network, disk.")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Rank the runbooks for an incident, with the reasons for each."""
    from ops.cli._stores import incident_engine
    from ops.incidents.db import transaction
    from ops.incidents.service import ensure_incident
    from ops.respond.service import context_of
    from ops.runbooks.catalog import load_runbooks
    from ops.runbooks.match import rank

    with transaction(incident_engine()) as session:
        found = ensure_incident(session, incident)
        ref, linked, ctx = found.ref, found.runbook_id, context_of(found, resource)
    ranked = rank(ctx, load_runbooks())
    if output is OutputFormat.JSON:
        print_json({"incident": ref, "linked": linked, "candidates": ranked})
        return
    if not ranked:
        exit_with_error(
            f"no runbook matches {ref}",
            hint="`ops runbook list` shows them all; link one by hand "
            "with `ops incident open --runbook` next time, or add a match to a runbook",
        )
    print_fitted(
        [number("Rank"), key("Runbook"), number("Score"), text("Why")],
        [
            [
                cell(n),
                Text(c.runbook_id, style="bold" if c.runbook_id == linked else ""),
                cell(c.score),
                cell("; ".join(c.reasons)),
            ]
            for n, c in enumerate(ranked, 1)
        ],
        title=f"Runbooks for {ref}",
    )
    note(f"linked: {linked or 'none'}; read it with `ops runbook show {ranked[0].runbook_id}`")


@app.command("lint")
@with_cli_exception_handling
def lint(output: OutputOption = OutputFormat.TABLE) -> None:
    """Check runbooks: real commands, required sections, every alert rule and known failure covered."""
    import typer.main

    from ops.alerts.rules import load_rules
    from ops.cli._app import app as root
    from ops.runbooks.catalog import load_runbooks
    from ops.runbooks.lint import lint as run_lint

    issues = run_lint(load_runbooks(), load_rules(), typer.main.get_command(root), date.today())
    errors = [i for i in issues if i.level == "error"]
    if output is OutputFormat.JSON:
        print_json({"errors": len(errors), "warnings": len(issues) - len(errors), "issues": issues})
    else:
        for i in issues:
            console.print(Text(f"{i.level}: {i.runbook}: {i.message}", style="red" if i.level == "error" else "yellow"))
        note(f"{len(errors)} error(s), {len(issues) - len(errors)} warning(s)", style="red" if errors else "green")
    if errors:
        raise typer.Exit(1)
