"""Prefect's own zombie-run detection: an automation that crashes a run whose heartbeats stop.

The automation (``sluice-crash-silent-flow-runs``) has a proactive trigger: after
a ``prefect.flow-run.heartbeat`` event, it expects another heartbeat or a
final state of the same run within ``SLUICE_CRASH_MISSED_HEARTBEATS`` x
``SLUICE_CRASH_HEARTBEAT_SECONDS``; if none comes, the server sets the run
Crashed. It needs every flow process to send heartbeats at least that often
(``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``, set on the work pool in
``prefect.yaml``): a process with a longer interval would be crashed alive.
The ``detect-crashes`` sweep does the same judgement per run, with each run's
own interval, and opens the incidents; the automation crashes silent runs
even when no sweep runs.

Install or update it with ``python -m ops.crashes.automation``.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from sluice.settings import CrashSettings, get_settings

NAME = "sluice-crash-silent-flow-runs"
HEARTBEAT = "prefect.flow-run.heartbeat"
FINAL_EVENTS = (
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
)


def silent_run_automation(settings: CrashSettings) -> AutomationCore:
    """The automation that crashes a flow run after ``missed_heartbeats`` intervals without a heartbeat."""
    window = settings.heartbeat_seconds * settings.missed_heartbeats
    return AutomationCore(
        name=NAME,
        description=(
            f"Crash a flow run that sent no heartbeat for {window:.0f} s: its process died "
            "(segfault, OOM kill, SIGKILL). The detect-crashes flow opens its incident."
        ),
        enabled=True,
        trigger=EventTrigger(
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            after={HEARTBEAT},
            expect={HEARTBEAT, *FINAL_EVENTS},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=window),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED, message=f"the flow process stopped sending heartbeats: none for {window:.0f} s"
            )
        ],
    )


def install(client: SyncPrefectClient, settings: CrashSettings | None = None) -> UUID:
    """Create the automation, or bring the one of that name up to date; returns its id."""
    wanted = silent_run_automation(settings or get_settings().crash)
    found = client.read_automations_by_name(NAME)
    if not found:
        return client.create_automation(wanted)
    first, *extra = found
    client.update_automation(first.id, wanted)
    for duplicate in extra:  # two installs raced
        client.delete_automation(duplicate.id)
    return first.id


if __name__ == "__main__":
    from prefect import get_client

    with get_client(sync_client=True) as prefect:
        print(f"automation {NAME}: {install(prefect)}")
