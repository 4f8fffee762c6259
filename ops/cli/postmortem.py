"""``ops postmortem``: write, list, show and publish incident postmortems.

A postmortem is a Markdown draft in the sections of the Google SRE template.
Sluice fills in the timeline, impact, detection and action items from the
incident store, the run records, the Prefect API and the alert history; the
rest are marked prompts for the author. It is stored with the incident, and
``publish`` writes it to a file and attaches it to Prefect as an artifact.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ops.cli._stores import incident_session
from ops.cli._tables import key, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    console,
    exit_with_success,
    load_settings,
    note,
    print_json,
    warn,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from ops.postmortems.models import PostmortemFacts

app = typer.Typer(help="Postmortems: write a draft from what Sluice knows, list, show, publish.", no_args_is_help=True)

IncidentArgument = Annotated[str, typer.Argument(help="The incident: INC-42 or 42.", show_default=False)]


def _warn_missing(facts: PostmortemFacts) -> None:
    if not facts.history.available and facts.history.flow_run_id:
        warn(f"no Prefect state history: {facts.history.unavailable}")
    if facts.impact.unavailable:
        warn(f"no run figures: {facts.impact.unavailable}")


@app.command("create")
@with_cli_exception_handling
def create(
    incident: IncidentArgument,
    *,
    force: Annotated[
        bool, typer.Option("--force", help="Regenerate an existing postmortem (replaces its text).")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Write the postmortem draft of INCIDENT and store it with the incident."""
    from ops.doctor.service import prefect_api_url
    from ops.incidents.service import ensure_incident
    from ops.postmortems.service import (
        FactSources,
        PostmortemSummary,
        draft_postmortem,
        ensure_replaceable,
        save_postmortem,
    )

    settings = load_settings()
    sources = FactSources(settings.home, settings.metadata_db_url(), prefect_api_url())
    with incident_session() as session:
        found = ensure_incident(session, incident)
        ensure_replaceable(found, replace=force)
    draft = draft_postmortem(found, sources)  # no transaction is open while the facts are read
    with incident_session() as session:
        saved = save_postmortem(session, ensure_incident(session, incident), draft.markdown, replace=force)
        summary = PostmortemSummary.of(saved)
    _warn_missing(draft.facts)
    if output is OutputFormat.JSON:
        print_json(summary)
        return
    note(
        f"wrote the postmortem of {summary.incident}: {len(draft.facts.timeline)} timeline lines, "
        f"{summary.prompts_left} prompts for the author",
        style="green",
    )
    note(
        f"`ops postmortem show {summary.incident}` prints it; `ops postmortem publish {summary.incident}` "
        "writes it to a file and to Prefect",
        style="dim",
    )


@app.command("list")
@with_cli_exception_handling
def list_postmortems(
    *,
    wide: Annotated[bool, typer.Option("--wide", help="Also show each published file on a narrow terminal.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List the stored postmortems, newest first."""
    from ops.postmortems.service import PostmortemSummary
    from ops.postmortems.service import list_postmortems as read_postmortems

    with incident_session() as session:
        rows = [PostmortemSummary.of(p) for p in read_postmortems(session)]
    if output is OutputFormat.JSON:
        print_json(rows)
        return
    if not rows:
        exit_with_success("no postmortems yet; `ops postmortem create INC-<id>` writes one")
    listed = []
    for r in rows:
        published = Text(f"{r.published_at:%Y-%m-%d}") if r.published_at else Text("draft", style="yellow")
        listed.append(
            [
                cell(r.incident),
                cell(r.severity),
                cell(r.title),
                Text(f"{r.updated_at:%Y-%m-%d %H:%M}"),
                published,
                cell(r.path),
            ]
        )
    print_fitted(
        [key("Incident"), key("Severity"), text("Title"), key("Updated"), key("Published"), text("Path", wide=True)],
        listed,
        wide=wide,
    )


@app.command("show")
@with_cli_exception_handling
def show(incident: IncidentArgument, *, output: OutputOption = OutputFormat.TABLE) -> None:
    """Print the stored postmortem of INCIDENT (rendered Markdown, or JSON with the text)."""
    from rich.markdown import Markdown

    from ops.postmortems.service import PostmortemSummary, ensure_postmortem

    with incident_session() as session:
        postmortem = ensure_postmortem(session, incident)
        summary, markdown = PostmortemSummary.of(postmortem), postmortem.markdown
    if output is OutputFormat.JSON:
        print_json({**asdict(summary), "markdown": markdown})
        return
    console.print(Markdown(markdown))


@app.command("publish")
@with_cli_exception_handling
def publish(
    incident: IncidentArgument,
    *,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write here. (default: <SLUICE_HOME>/postmortems/INC-<id>.md)", dir_okay=False),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Write the postmortem of INCIDENT to a Markdown file and attach it to Prefect as an artifact."""
    from ops.doctor.service import prefect_api_url
    from ops.postmortems.service import (
        attach_publication,
        default_path,
        ensure_postmortem,
        publish_postmortem,
    )

    home = load_settings().home
    with incident_session() as session:
        postmortem = ensure_postmortem(session, incident)
        written = publish_postmortem(session, postmortem, out or default_path(home, postmortem.incident))
    publication = attach_publication(written, api_url=prefect_api_url())
    artifact = publication.artifact
    if artifact is not None and artifact.error:
        warn(f"not attached to Prefect: {artifact.error}")
    if output is OutputFormat.JSON:
        print_json({k: v for k, v in asdict(publication).items() if k != "markdown"})
        return
    note(f"published the postmortem of {publication.incident} to {publication.path}", style="green")
    if artifact is not None and not artifact.error:
        linked = f" on flow run {artifact.flow_run_id}" if artifact.flow_run_id else ""
        note(f"Prefect artifact {artifact.key}{linked}", style="dim")
