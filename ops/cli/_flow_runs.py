"""Prefect flow runs from the command line: the API to use, a run's URL, following a run until it ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sluice.errors import ConfigError

POLL_SECONDS = 2.0
"""How often a followed run's state is read."""
STALL_SECONDS = 30.0
"""After this long Scheduled, a followed run is said to be waiting for a worker."""


@dataclass(frozen=True)
class StateChange:
    """A state a followed flow run reached."""

    at: datetime
    type: str  # Prefect's state type: SCHEDULED, PENDING, RUNNING, COMPLETED, FAILED, CRASHED, ...
    name: str  # the state's name as the UI shows it: Scheduled, Late, Running, Completed, ...
    message: str
    final: bool

    @property
    def completed(self) -> bool:
        return self.type == "COMPLETED"


@dataclass(frozen=True)
class PrefectApi:
    api_url: str
    ui_url: str

    def flow_run_url(self, flow_run_id: UUID | str) -> str:
        return f"{self.ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"


def running_api() -> PrefectApi:
    """The Prefect API at ``PREFECT_API_URL`` (or the local default) if it answers; never starts one.

    Raises:
        ConfigError: nothing answers there.
    """
    from prefect.settings import PREFECT_API_URL

    from demo.prefect_server import DEFAULT_API, healthy

    url = PREFECT_API_URL.value() or DEFAULT_API
    if not healthy(url):
        raise ConfigError(
            f"the Prefect API at {url} is not answering",
            hint="start the server the deployments are registered on (`make run` starts one and "
            "registers them) or set PREFECT_API_URL",
        )
    return PrefectApi(url, url.removesuffix("/api"))


@contextmanager
def using(api: PrefectApi) -> Iterator[None]:
    """Prefect clients and flow runs in this block talk to ``api``."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api.api_url}):
        yield


def _change(state: Any) -> StateChange:
    return StateChange(
        at=state.timestamp, type=state.type.value, name=state.name, message=state.message or "", final=state.is_final()
    )


def follow(
    flow_run_id: UUID,
    on_change: Callable[[StateChange], None],
    *,
    on_stall: Callable[[StateChange], None] | None = None,
    poll: float | None = None,
    stall_seconds: float | None = None,
) -> StateChange:
    """Read the run's state every ``poll`` seconds until it is final; report every change, and a long wait once.

    ``on_stall`` is called once when the run stays Scheduled for ``stall_seconds`` (no worker took it).
    """
    from prefect import get_client

    poll = POLL_SECONDS if poll is None else poll
    stall_seconds = STALL_SECONDS if stall_seconds is None else stall_seconds
    last: StateChange | None = None
    since, stalled = time.monotonic(), False
    with get_client(sync_client=True) as client:
        while True:
            change = _change(client.read_flow_run(flow_run_id).state)
            if last is None or (change.type, change.name, change.at) != (last.type, last.name, last.at):
                on_change(change)
                last, since = change, time.monotonic()
            if change.final:
                return change
            if (
                on_stall is not None
                and not stalled
                and change.type == "SCHEDULED"
                and time.monotonic() - since >= stall_seconds
            ):
                on_stall(change)
                stalled = True
            time.sleep(poll)
