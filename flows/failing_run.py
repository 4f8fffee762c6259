"""A deliberately failing run, to see the incident loop end to end (``make fail``).

It runs ``ingest-files`` on a source folder that does not exist, under the
local Prefect server of the main job. The run fails with
``SourceNotFoundError``; its failure hook opens an incident linked to the
``source-unreachable`` runbook and queues its page and Slack message in the
notification outbox (:mod:`ops.notify.outbox`) for each channel configured,
and what was queued is printed with its delivery status. With no PagerDuty or
Slack configured (``SLUICE_PAGERDUTY_ROUTING_KEY``, ``SLUICE_SLACK_BOT_TOKEN``
and ``SLUICE_SLACK_CHANNEL``, or ``SLUICE_SLACK_WEBHOOK_URL``) nothing is
queued: the page and the message the incident would send are printed instead.
Run it twice and the second failure is added to the same incident. Then
follow what it prints: ``ops incident list``, ``ops incident show``,
``ops notify list``, ``ops runbook match``, ``ops postmortem create``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ops.incidents.models import Incident, Notification

console = Console()
CHANNEL_SETTINGS = (
    "SLUICE_PAGERDUTY_ROUTING_KEY, or SLUICE_SLACK_BOT_TOKEN and SLUICE_SLACK_CHANNEL, or SLUICE_SLACK_WEBHOOK_URL"
)


def main() -> int:
    from demo.prefect_server import ensure_server
    from sluice.settings import get_settings

    settings = get_settings()
    with console.status("Starting the local Prefect server…"):
        server = ensure_server(settings.home)
    os.environ["PREFECT_API_URL"] = server.api_url
    return fail_once(settings.home, console)


def fail_once(home: Path, out: Console) -> int:
    """Ingest from a folder that does not exist; print the incident it opened and what it notifies."""
    from flows.ingest_files import ingest_files
    from ops.incidents.db import open_engine, store_url, transaction
    from ops.incidents.service import list_incidents

    engine = open_engine(store_url(home))
    before = _last_notification(engine)
    missing = home / "samples" / "vanished-feed"
    out.print(f"[bold]Ingesting orders from {missing}[/], a folder that does not exist…")
    state = ingest_files("orders", str(missing), return_state=True)
    out.print(f"flow run finished [red]{state.name}[/]: {escape(state.message or '')}")
    run_id = str(state.state_details.flow_run_id)
    with transaction(engine) as session:
        known = list_incidents(session)
    found = [i for i in known if i.flow_run_id == run_id] or [i for i in known if i.flow_name == "ingest-files"]
    if not found:
        out.print("[red]no incident was opened; check the flow run's logs[/]")
        return 1
    incident = found[0]
    out.print(
        f"[bold]incident {incident.ref} ({incident.severity.value}, {incident.status.value}, seen "
        f"{incident.occurrences}x), runbook {incident.runbook_id}[/]"
    )
    queued = _queued_since(engine, incident, before)
    if queued:
        _show_queued(out, queued)
    else:
        _show_unqueued(out, incident)
    out.print(
        f"Next: [bold]ops incident list[/]   [bold]ops incident show {incident.ref}[/]   "
        f"[bold]ops notify list[/]   [bold]ops runbook match {incident.ref}[/]   "
        f"[bold]ops postmortem create {incident.ref}[/]"
    )
    return 0


def _last_notification(engine: Engine) -> int:
    from ops.incidents.db import transaction
    from ops.notify import list_notifications

    with transaction(engine) as session:
        newest = list_notifications(session, limit=1)
    return newest[0].id if newest else 0


def _queued_since(engine: Engine, incident: Incident, after: int) -> list[Notification]:
    """The incident's notifications queued after notification ``after``, oldest first."""
    from ops.incidents.db import transaction
    from ops.notify import list_notifications

    with transaction(engine) as session:
        rows = list_notifications(session, limit=50)
    return sorted((n for n in rows if n.id > after and n.incident_id == incident.id), key=lambda n: n.id)


def _gist(channel: str, payload: dict[str, Any]) -> str:
    """One line of a payload: the PagerDuty summary and severity, or the Slack text."""
    from sluice.settings import PAGERDUTY

    if channel == PAGERDUTY:
        body = payload.get("payload", {})
        detail = f", severity {body['severity']}: {body['summary']}" if body else ""
        return f"{payload['dedup_key']}{detail}"
    return str(payload.get("text", ""))


def _show_queued(out: Console, queued: list[Notification]) -> None:
    out.print("Queued in the notification outbox:")
    for n in queued:
        error = f" (last error: {n.last_error})" if n.last_error else ""
        out.print(
            f"  {n.channel} {n.action}, {n.status}{escape(error)}: {escape(_gist(n.channel, json.loads(n.payload)))}"
        )


def _show_unqueued(out: Console, incident: Incident) -> None:
    """What the incident would have sent, had a channel been configured; or why it sends nothing."""
    from ops.notify.messages import Action, channel_payload
    from ops.respond.service import announcement
    from sluice.settings import CHANNELS, get_settings

    settings = get_settings(fresh=True).notify
    if settings.channels():
        out.print(
            "  [yellow]nothing was queued (a repeat of an open incident only posts at 2, 5, 10, 20... occurrences)[/]"
        )
        return
    found = announcement(incident, created=incident.occurrences == 1)
    if found is None:
        out.print("  nothing to announce: a repeat of an open incident only posts at 2, 5, 10, 20... occurrences")
    else:
        for channel in CHANNELS:
            payload = channel_payload(incident, channel, Action(found.action), settings, found.text)
            if payload is not None:
                out.print(f"  would send {channel} {found.action}: {escape(_gist(channel, payload))}")
    out.print(
        f"  [yellow]no PagerDuty or Slack is configured, so nothing was queued; set {CHANNEL_SETTINGS} "
        "to page for real[/]"
    )


if __name__ == "__main__":
    raise SystemExit(main())
