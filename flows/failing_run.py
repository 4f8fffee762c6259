"""A deliberately failing run, to see the incident loop end to end (``make fail``).

It runs ``ingest-files`` on a source folder that does not exist, under the
local Prefect server of the main job. The run fails with
``SourceNotFoundError``; its failure hook opens an incident linked to the
``source-unreachable`` runbook and pages. With no PagerDuty or Slack
configured (``SLUICE_PAGERDUTY_ROUTING_KEY``, ``SLUICE_SLACK_BOT_TOKEN``...),
the page and the Slack message go to local receivers started for the
occasion (:mod:`ops.notify.receivers`), and what they received is printed.
Run it twice and the second failure is added to the same incident. Then
follow what it prints: ``ops incident list``, ``ops incident show``,
``ops runbook match``, ``ops postmortem create``.
"""

from __future__ import annotations

import os

from rich.console import Console

console = Console()


def main() -> int:
    from demo.prefect_server import ensure_server
    from sluice.settings import get_settings

    settings = get_settings()
    with console.status("Starting the local Prefect server…"):
        server = ensure_server(settings.home)
    os.environ["PREFECT_API_URL"] = server.api_url
    from flows.ingest_files import ingest_files
    from ops.incidents.db import open_engine, store_url, transaction
    from ops.incidents.service import list_incidents

    receivers = None
    if not any(os.environ.get(k) for k in ("SLUICE_PAGERDUTY_ROUTING_KEY", "SLUICE_SLACK_BOT_TOKEN",
                                             "SLUICE_SLACK_WEBHOOK_URL")):
        from ops.notify.receivers import start_local_receivers

        receivers = start_local_receivers(str(settings.home / "local-receivers"))
        os.environ.update(receivers.environment)
        console.print(f"PagerDuty and Slack: local receivers at {receivers.pagerduty.url} and {receivers.slack.url}")
    missing = settings.home / "samples" / "vanished-feed"
    console.print(f"[bold]Ingesting orders from {missing}[/], a folder that does not exist…")
    state = ingest_files("orders", str(missing), return_state=True)
    console.print(f"flow run finished [red]{state.name}[/]: {state.message}")
    with transaction(open_engine(store_url(settings.home))) as session:
        found = [i for i in list_incidents(session) if i.flow_run_id == str(state.state_details.flow_run_id)
                 or i.flow_name == "ingest-files"]
        incident = found[0] if found else None
        line = (f"incident {incident.ref} ({incident.severity.value}, {incident.status.value}, seen "
                f"{incident.occurrences}x), runbook {incident.runbook_id}" if incident else None)
    if incident is None or line is None:
        console.print("[red]no incident was opened; check the flow run's logs[/]")
        return 1
    console.print(f"[bold]{line}[/]")
    if receivers is not None:
        _show_received(receivers)
        receivers.stop()
    console.print(f"Next: [bold]ops incident list[/]   [bold]ops incident show {incident.ref}[/]   "
                  f"[bold]ops runbook match {incident.ref}[/]   [bold]ops postmortem create {incident.ref}[/]")
    return 0


def _show_received(receivers: object) -> None:
    from ops.notify.receivers import LocalReceivers

    if not isinstance(receivers, LocalReceivers):
        return
    for body in receivers.pagerduty.bodies():
        console.print(f"  PagerDuty received: {body.get('event_action')} {body.get('dedup_key')} "
                      f"severity={body.get('payload', {}).get('severity')}: {body.get('payload', {}).get('summary')}")
    for body in receivers.slack.bodies():
        console.print(f"  Slack received in {body.get('channel')}: {body.get('text')}")
    if not receivers.pagerduty.requests and not receivers.slack.requests:
        console.print("  [yellow]nothing was sent (a repeat of an open incident only posts at 2, 5, 10, 20... "
                      "occurrences)[/]")


if __name__ == "__main__":
    raise SystemExit(main())
