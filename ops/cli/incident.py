"""``ops incident``: list, show, open and move incidents through triggered → acknowledged → mitigated → resolved.

The store is ``SLUICE_INCIDENTS_URL`` (SQLite under ``SLUICE_HOME`` by default).
"""

from __future__ import annotations

import getpass
import uuid
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ops.cli._metric_options import parse_time_range
from ops.cli._stores import incident_engine
from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    console,
    exit_with_success,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from ops.incidents.models import Status
    from ops.incidents.views import IncidentDetail

app = typer.Typer(
    help="Incidents: list, show, open, acknowledge, mitigate, resolve, assign, note.", no_args_is_help=True
)

IncidentArg = Annotated[str, typer.Argument(help="The incident, e.g. INC-42 or 42.")]
WhoOption = Annotated[str | None, typer.Option("--who", help="Who acts. (default: the login name)")]
SEVERITY_STYLE = {"SEV1": "bold white on red", "SEV2": "bold red", "SEV3": "yellow", "SEV4": "dim"}
STATUS_STYLE = {"triggered": "bold red", "acknowledged": "yellow", "mitigated": "cyan", "resolved": "green"}


def _who(who: str | None) -> str:
    if who:
        return who
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"


@app.command("list")
@with_cli_exception_handling
def list_incidents(
    *,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status", help="triggered, acknowledged, mitigated, resolved, or open (all but resolved). Repeatable."
        ),
    ] = None,
    severity: Annotated[list[str] | None, typer.Option("--severity", help="SEV1..SEV4. Repeatable.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Opened this recently: 1d, 2w.")] = None,
    drills: Annotated[bool, typer.Option("--drills/--no-drills", help="Include chaos drills.")] = True,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="alert, flow-failure, chaos-drill or manual. Repeatable.")
    ] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Also show each incident's runbook on a narrow terminal.")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List incidents, newest first."""
    from ops.incidents.db import transaction
    from ops.incidents.models import Severity, Source
    from ops.incidents.service import IncidentFilter
    from ops.incidents.service import list_incidents as query
    from ops.incidents.views import summary

    statuses = _statuses(status or [])
    try:
        severities = [Severity(s.upper()) for s in severity or []]
    except ValueError:
        raise typer.BadParameter("use SEV1, SEV2, SEV3 or SEV4", param_hint="--severity") from None
    try:
        sources = [Source(s.lower()) for s in source or []]
    except ValueError:
        raise typer.BadParameter("use alert, flow-failure, chaos-drill or manual", param_hint="--source") from None
    start = parse_time_range(since, None, None).start if since else None
    with transaction(incident_engine()) as session:
        views = [
            summary(i) for i in query(session, IncidentFilter(statuses, severities, start, drills, sources=sources))
        ]
    if output is OutputFormat.JSON:
        print_json(views)
        return
    if not views:
        exit_with_success("no incidents match")
    columns = [
        key("Id"),
        key("Sev"),
        key("Status"),
        text("Title"),
        key("Runbook", wide=True),
        number("Seen"),
        key("Opened"),
    ]
    print_fitted(
        columns,
        [
            [
                cell(v.id),
                Text(v.severity, style=SEVERITY_STYLE[v.severity]),
                Text(v.status, style=STATUS_STYLE[v.status]),
                cell(v.title + (" [drill]" if v.is_drill else "")),
                cell(v.runbook),
                cell(v.occurrences),
                cell(v.opened_at),
            ]
            for v in views
        ],
        wide=wide,
    )


def _statuses(values: list[str]) -> list[Status]:
    from ops.incidents.models import Status

    out: list[Status] = []
    for value in values:
        if value.lower() == "open":
            out += [Status.TRIGGERED, Status.ACKNOWLEDGED, Status.MITIGATED]
            continue
        try:
            out.append(Status(value.lower()))
        except ValueError:
            raise typer.BadParameter(
                "use triggered, acknowledged, mitigated, resolved or open", param_hint="--status"
            ) from None
    return out


@app.command("show")
@with_cli_exception_handling
def show(incident: IncidentArg, *, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show an incident with its timeline and action items."""
    from ops.incidents.db import transaction
    from ops.incidents.service import ensure_incident
    from ops.incidents.views import detail

    with transaction(incident_engine()) as session:
        view = detail(ensure_incident(session, incident))
    if output is OutputFormat.JSON:
        print_json(view)
        return
    _print_detail(view)


def _print_detail(v: IncidentDetail) -> None:
    console.print(
        Text.assemble(
            (f"{v.id} ", "bold"),
            (v.severity, SEVERITY_STYLE[v.severity]),
            " ",
            (v.status, STATUS_STYLE[v.status]),
            f"  {v.title}",
        )
    )
    facts = [
        ("source", v.source + (" (drill)" if v.is_drill else "")),
        ("environment", v.environment),
        ("flow", v.flow_name),
        ("dataset", v.dataset),
        ("flow run", v.flow_run_url or v.flow_run_id),
        ("runbook", f"runbooks/{v.runbook}.md" if v.runbook else None),
        ("assignee", v.assignee),
        ("occurrences", f"{v.occurrences:,}"),
        ("signature", v.signature or None),
        ("dedup key", v.dedup_key),
    ]
    for name, value in facts:
        if value:
            console.print(Text.assemble((f"  {name:<12}", "dim"), str(value)))
    print_fitted(
        [key("At"), key("Kind"), text("Source", min_width=8), text("Who", min_width=8), text("Text")],
        [[cell(e.at), cell(e.kind), cell(e.source), cell(e.who), cell(e.text)] for e in v.timeline],
        title="Timeline",
    )
    if v.actions:
        print_fitted(
            [key("Id"), key("Type"), text("Owner", min_width=8), key("Due"), key("Status"), text("Action")],
            [
                [cell(a.id), cell(a.type), cell(a.owner), cell(a.due), cell(a.status), cell(a.description)]
                for a in v.actions
            ],
            title="Action items",
        )


@app.command("open")
@with_cli_exception_handling
def open_incident(
    *,
    title: Annotated[str, typer.Option("--title", help="What is wrong, in one line.")],
    severity: Annotated[str, typer.Option("--severity", help="SEV1 (worst) .. SEV4.")] = "SEV3",
    runbook: Annotated[str | None, typer.Option(help="Runbook id. (default: the best match)")] = None,
    dataset: Annotated[str | None, typer.Option(help="The dataset affected.")] = None,
    flow: Annotated[str | None, typer.Option(help="The flow affected.")] = None,
    text: Annotated[str, typer.Option(help="The first timeline entry.")] = "opened by hand",
    who: WhoOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Open an incident by hand."""
    from ops.incidents.db import transaction
    from ops.incidents.models import Severity, Source
    from ops.incidents.service import Trigger
    from ops.incidents.views import summary
    from ops.respond.service import announce_opened, flush_notifications, raise_incident
    from ops.runbooks.catalog import find_runbook, load_runbooks
    from sluice.paths import ensure_dataset_name

    if dataset is not None:
        ensure_dataset_name(dataset)
    try:
        level = Severity(severity.upper())
    except ValueError:
        raise typer.BadParameter("use SEV1, SEV2, SEV3 or SEV4", param_hint="--severity") from None
    books = load_runbooks()
    if runbook:
        find_runbook(runbook, books)
    t = Trigger(
        title=title,
        severity=level,
        source=Source.MANUAL,
        dedup_key=f"manual:{uuid.uuid4().hex[:12]}",
        environment=load_settings().env,
        text=text,
        who=_who(who),
        dataset=dataset,
        flow_name=flow,
        runbook_id=runbook,
        signature=f"title={title.replace(' ', '_')[:60]}",
    )
    store = incident_engine()
    with transaction(store) as session:
        opened = raise_incident(session, t, books)
        announce_opened(session, opened)
        view = summary(opened.incident)
    flush_notifications(store)
    if output is OutputFormat.JSON:
        print_json(view)
        return
    note(f"opened {view.id} ({view.severity}); runbook: {view.runbook or 'none matched'}")


def _move(incident: str, target: str, who: str | None, text: str) -> None:
    from ops.incidents.db import transaction
    from ops.incidents.models import Status
    from ops.incidents.service import ensure_incident, transition
    from ops.respond.service import announce_change, flush_notifications

    store = incident_engine()
    with transaction(store) as session:
        found = ensure_incident(session, incident)
        transition(session, found, Status(target), who=_who(who), text=text)
        announce_change(session, found, target, text)
        ref = found.ref
    flush_notifications(store)
    note(f"{ref} is now {target}")


@app.command("ack")
@with_cli_exception_handling
def ack(
    incident: IncidentArg,
    *,
    who: WhoOption = None,
    text: Annotated[str, typer.Option("--note", help="A line for the timeline.")] = "",
) -> None:
    """Acknowledge: someone is on it."""
    _move(incident, "acknowledged", who, text)


@app.command("mitigate")
@with_cli_exception_handling
def mitigate(
    incident: IncidentArg,
    *,
    who: WhoOption = None,
    text: Annotated[str, typer.Option("--note", help="What stopped the bleeding.")] = "",
) -> None:
    """Mark as mitigated: the impact has stopped, the cause may remain."""
    _move(incident, "mitigated", who, text)


@app.command("resolve")
@with_cli_exception_handling
def resolve(
    incident: IncidentArg,
    *,
    who: WhoOption = None,
    text: Annotated[str, typer.Option("--note", help="How it was resolved.")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Resolve: closed for good (a new failure opens a new incident). Asks for confirmation."""
    if not yes and not typer.confirm(f"Resolve {incident}? It cannot be reopened", default=False):
        raise typer.Abort()
    _move(incident, "resolved", who, text)


@app.command("assign")
@with_cli_exception_handling
def assign(
    incident: IncidentArg, assignee: Annotated[str, typer.Argument(help="Who owns it now.")], *, who: WhoOption = None
) -> None:
    """Assign the incident to someone."""
    from ops.incidents.db import transaction
    from ops.incidents.service import assign as do_assign
    from ops.incidents.service import ensure_incident

    with transaction(incident_engine()) as session:
        found = ensure_incident(session, incident)
        do_assign(session, found, assignee, who=_who(who))
        ref = found.ref
    note(f"{ref} is assigned to {assignee}")


@app.command("note")
@with_cli_exception_handling
def add_note(
    incident: IncidentArg, text: Annotated[str, typer.Argument(help="The note.")], *, who: WhoOption = None
) -> None:
    """Add a note to the timeline."""
    from ops.incidents.db import transaction
    from ops.incidents.service import ensure_incident
    from ops.incidents.service import note as do_note
    from ops.respond.service import announce_change, flush_notifications

    store = incident_engine()
    with transaction(store) as session:
        found = ensure_incident(session, incident)
        do_note(session, found, text, who=_who(who))
        announce_change(session, found, "note", text)
        ref = found.ref
    flush_notifications(store)
    note(f"noted on {ref}")
