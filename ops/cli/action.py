"""``ops action``: the action items of postmortems: add, list (overdue highlighted), mark done."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ops.cli._stores import incident_session
from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    exit_with_success,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from ops.postmortems.actions import ActionSummary

app = typer.Typer(help="Action items of postmortems: add, list, mark done.", no_args_is_help=True)

ACTION_TYPES = ("mitigate", "prevent", "process")
"""The choices of ``--type``, as in ``ops.incidents.models.ActionType`` (kept here so the CLI imports no ORM)."""


def _today() -> datetime:
    return datetime.now(timezone.utc)


def _status(a: ActionSummary) -> Text:
    if a.overdue:
        return Text("OVERDUE", style="bold red")
    return Text(a.status, style="green" if a.status == "done" else "")


def _print_items(items: list[ActionSummary], *, wide: bool) -> None:
    columns = [
        number("#"),
        key("Incident"),
        key("Type"),
        text("Action"),
        text("Owner", min_width=8),
        key("Due"),
        key("Status"),
        text("Tracker", wide=True),
    ]
    rows = []
    for a in items:
        style = "red" if a.overdue else ""
        rows.append(
            [
                cell(a.id),
                cell(a.incident),
                cell(a.type),
                Text(a.description, style=style),
                cell(a.owner),
                Text(a.due.isoformat(), style=style) if a.due else cell(None),
                _status(a),
                cell(a.tracker_url),
            ]
        )
    print_fitted(columns, rows, wide=wide)


@app.command("add")
@with_cli_exception_handling
def add(
    incident: Annotated[str, typer.Argument(help="The incident: INC-42 or 42.", show_default=False)],
    text: Annotated[list[str], typer.Argument(help="What is to be done.", show_default=False)],
    *,
    kind: Annotated[
        str,
        typer.Option(
            "--type",
            metavar="|".join(ACTION_TYPES),
            help="mitigate (limit harm), prevent (stop a recurrence) or process.",
        ),
    ],
    owner: Annotated[str, typer.Option("--owner", help="Who does it.")],
    due: Annotated[str, typer.Option("--due", metavar="YYYY-MM-DD", help="When it is due.")],
    tracker: Annotated[str | None, typer.Option("--tracker", metavar="URL", help="Its ticket.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Add an action item to the postmortem of INCIDENT."""
    from ops.incidents.service import ensure_incident
    from ops.postmortems.actions import ActionSummary, add_action

    with incident_session() as session:
        item = add_action(
            session,
            ensure_incident(session, incident),
            type=kind,
            owner=owner,
            due=due,
            text=" ".join(text),
            tracker_url=tracker,
        )
        summary = ActionSummary.of(item, _today().date())
    if output is OutputFormat.JSON:
        print_json(summary)
        return
    note(
        f"added action item #{summary.id} to {summary.incident}: {summary.type}, {summary.owner}, due {summary.due}",
        style="green",
    )
    if summary.overdue:
        note("it is overdue already", style="yellow")


@app.command("list")
@with_cli_exception_handling
def list_items(
    *,
    open_only: Annotated[bool, typer.Option("--open", help="Only items not done.")] = False,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open items past their due date.")] = False,
    incident: Annotated[str | None, typer.Option("--incident", help="Only items of this incident.")] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Also show each item's tracker link on a narrow terminal.")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List action items by due date; overdue items are highlighted."""
    from ops.incidents.service import ensure_incident
    from ops.postmortems.actions import ActionSummary, list_actions

    today = _today().date()
    with incident_session() as session:
        scope = ensure_incident(session, incident) if incident else None
        items = [
            ActionSummary.of(a, today)
            for a in list_actions(session, today=today, open_only=open_only, overdue_only=overdue, incident=scope)
        ]
    if output is OutputFormat.JSON:
        print_json(items)
        return
    if not items:
        exit_with_success("no overdue action items" if overdue else "no action items")
    _print_items(items, wide=wide)
    late = sum(a.overdue for a in items)
    if late:
        note(f"{late} overdue", style="bold red")


@app.command("done")
@with_cli_exception_handling
def done(
    action_id: Annotated[int, typer.Argument(metavar="ID", help="The action item's number.", show_default=False)],
    *,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Mark action item ID done (asks first unless --yes)."""
    from ops.postmortems.actions import ActionSummary, complete_action, ensure_action

    today = _today().date()
    with incident_session() as session:
        before = ActionSummary.of(ensure_action(session, action_id), today)
    if not yes:
        typer.confirm(f"Mark #{before.id} of {before.incident} done: {before.description!r}?", abort=True, err=True)
    with incident_session() as session:
        summary = ActionSummary.of(complete_action(session, ensure_action(session, action_id)), today)
    if output is OutputFormat.JSON:
        print_json(summary)
        return
    note(f"action item #{summary.id} of {summary.incident} is done", style="green")
