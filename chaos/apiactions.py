"""Actions of the API drills: Chaos Toolkit Python providers on an API behind the drill's HTTP fault proxy.

Like :mod:`chaos.actions`, each works on the drill in progress and returns a
small dict for the journal; an action that cannot do its job raises (and fails
the drill); *faults* stamp the moment the first fault went in.

- runs: :func:`ingest_api` (the ``ingest-api`` flow, through the proxy, into the drill's lake);
- faults: :func:`throttle_then_fail` (429 with ``Retry-After``, then 5xx);
- :func:`heal_api` (the proxy forwards again; :func:`chaos.actions.heal` does it too, as a rollback).

``api`` and ``endpoint`` name what the drill disturbs (default: the only API
the environment describes, its first endpoint without a parent; see
:mod:`chaos.apisource`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chaos.actions import fault
from chaos.apisource import DrillApi, ensure_drill_api
from chaos.drill import current
from chaos.ingestion import RunOutcome, utcnow
from chaos.stack import drill_environment
from flows.hooks import DRILL_TAG
from sluice.settings import get_settings

if TYPE_CHECKING:
    from chaos.drill import Drill

APIS_DIR = "SLUICE_APIS_DIR"


def _api(api: str | None, endpoint: str | None) -> DrillApi:
    return ensure_drill_api(current().stack, api, endpoint)


@contextmanager
def _drill_apis(folder: str) -> Iterator[None]:
    """The drill's API descriptions (through its proxy) as this process's, for the block."""
    saved = os.environ.get(APIS_DIR)
    os.environ[APIS_DIR] = folder
    get_settings(fresh=True)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(APIS_DIR, None)
        else:
            os.environ[APIS_DIR] = saved
        get_settings(fresh=True)


def run_api(drill: Drill, api: DrillApi, label: str) -> RunOutcome:
    """One ``ingest-api`` run of the drill's endpoint into the drill's lake, tagged for the drill."""
    from prefect import tags

    from flows.ingest_api import ingest_api as flow

    started = utcnow()
    with drill_environment(drill.stack), _drill_apis(str(api.folder)):
        named = flow.with_options(flow_run_name=f"chaos-{drill.tag}-api-{label}")
        try:
            with tags(DRILL_TAG, drill.tag):
                state = named(api.spec.name, [api.endpoint.name], return_state=True)
        except Exception as exc:  # noqa: BLE001 - the run could not even be created
            out = RunOutcome(label, "NotStarted", started, utcnow(), message=f"{type(exc).__name__}: {exc}"[:500])
            drill.runs.append(out)
            return out
    run_id = state.state_details.flow_run_id
    out = RunOutcome(
        label, str(state.name), started, utcnow(), str(run_id) if run_id else None, (state.message or "")[:500]
    )
    reports = state.result(raise_on_failure=False) if state.is_completed() else None
    if isinstance(reports, list):
        out.rows_read = sum(int(r.rows_read) for r in reports)
    drill.runs.append(out)
    return out


def ingest_api(
    label: str, api: str | None = None, endpoint: str | None = None, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run ``ingest-api`` over the drill's endpoint once; a failed flow run is an outcome, not a failure.

    The output counts what the proxy forwarded and answered itself up to the end of the run.
    """
    drill = current()
    target = _api(api, endpoint)
    out = run_api(drill, target, label).to_dict()
    stats = target.proxy.stats
    out.update(forwarded=stats.forwarded, throttled=stats.throttled, failed=stats.failed)
    out["detail"] += f"; the proxy forwarded {stats.forwarded}, answered 429 {stats.throttled}, 5xx {stats.failed}"
    return out


@fault
def throttle_then_fail(
    seconds: float = 60.0,
    after_requests: int = 2,
    status: int = 500,
    retry_after: float | None = None,
    api: str | None = None,
    endpoint: str | None = None,
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Once ``after_requests`` more requests reached the API, it answers 429 for ``seconds``, then ``status``.

    The 429s carry a ``Retry-After`` of ``retry_after`` seconds (default: the
    rest of the throttled window, in whole seconds); ``status`` goes on until
    the API is healed (:func:`heal_api`, or the rollback :func:`chaos.actions.heal`).
    """
    target = _api(api, endpoint)
    faults = target.proxy.throttle_then_fail(
        seconds, fail_status=status, retry_after=retry_after, after_requests=after_requests
    )
    said = "the rest of the window" if faults.retry_after is None else f"{faults.retry_after:g} s"
    return {
        "detail": f"{target.source}: after {after_requests} request(s), 429 (Retry-After: {said}) for "
        f"{seconds:g} s, then HTTP {status} until healed",
        "throttle_seconds": seconds,
        "fail_status": status,
    }


def heal_api(
    api: str | None = None, endpoint: str | None = None, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The drill's API proxy forwards every request again."""
    target = _api(api, endpoint)
    target.proxy.heal()
    return {"detail": f"{target.source} healed: the proxy forwards every request"}
