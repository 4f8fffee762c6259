"""Watching the Prefect API for a drill's flow run, so a fault can hit it mid-run.

The watch uses this process's ``PREFECT_API_URL`` (the real API), never the
drill's API fault proxy, so it keeps seeing the run while the proxy is down.
"""

from __future__ import annotations

import time

from ops.errors import ChaosError

POLL = 0.1


def wait_for_running(tag: str, *, timeout: float) -> str:
    """The id of the first flow run tagged ``tag`` in a Running state; raise if none appears in ``timeout`` s."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    running = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[tag]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])),
    )
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=running, limit=1)
            if runs:
                return str(runs[0].id)
            time.sleep(POLL)
    raise ChaosError(
        f"no flow run tagged {tag} started running within {timeout:.0f} s",
        hint="start the run right after this action (it runs in the background)",
    )
