"""What the Prefect API knows about an incident's flow run, and attaching a postmortem to it.

Both functions talk to the API at ``api_url`` (the caller passes
``PREFECT_API_URL``) and never raise for an API that is unset, unreachable or
answers with an error: they say so in their result, so a postmortem can still
be written while Prefect is down.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ops.postmortems.models import FlowRunState, StateHistory

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

NO_API = "no Prefect API is configured (PREFECT_API_URL is not set)"


@dataclass(frozen=True)
class ArtifactOutcome:
    """The markdown artifact a publication created, or why it could not."""

    key: str
    artifact_id: str | None = None
    flow_run_id: str | None = None
    error: str = ""


def _as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


@contextmanager
def _client(api_url: str) -> Iterator[SyncPrefectClient]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        yield client


def _problem(exc: Exception, api_url: str) -> str:
    return f"the Prefect API at {api_url} could not be read: {type(exc).__name__}: {exc}"


def read_state_history(flow_run_id: str | None, *, api_url: str | None) -> StateHistory:
    """The states of flow run ``flow_run_id``, oldest first (``read_flow_run_states``).

    The result's ``unavailable`` says why there are no states: no flow run on
    the incident, an id that is not a flow-run id, no API configured, an
    unreachable API, or a run the API does not know.
    """
    if not flow_run_id:
        return StateHistory(None, unavailable="the incident names no flow run")
    run_uuid = _as_uuid(flow_run_id)
    if run_uuid is None:
        return StateHistory(flow_run_id, unavailable=f"{flow_run_id!r} is not a Prefect flow-run id")
    if not api_url:
        return StateHistory(flow_run_id, unavailable=NO_API)
    from prefect.exceptions import ObjectNotFound

    try:
        with _client(api_url) as client:
            client.read_flow_run(run_uuid)  # the states endpoint answers [] for an unknown run
            states = client.read_flow_run_states(run_uuid)
    except ObjectNotFound:
        return StateHistory(flow_run_id, unavailable=f"the Prefect API at {api_url} has no flow run {flow_run_id}")
    except Exception as exc:  # noqa: BLE001 - any API failure is reported in the document, not raised
        return StateHistory(flow_run_id, unavailable=_problem(exc, api_url))
    rows = [
        FlowRunState(at=s.timestamp, type=s.type.value, name=s.name or s.type.value, message=s.message or "")
        for s in states
        if s.timestamp is not None
    ]
    return StateHistory(flow_run_id, tuple(sorted(rows, key=lambda s: s.at)))


def publish_artifact(
    markdown: str, *, key: str, description: str, flow_run_id: str | None, api_url: str | None
) -> ArtifactOutcome:
    """Create a markdown artifact ``key``, linked to ``flow_run_id`` when the API knows that run.

    This is the request ``create_markdown_artifact`` makes, sent through a
    client so that it works outside a flow run (where that helper is
    deprecated) and can name the incident's flow run.
    """
    if not api_url:
        return ArtifactOutcome(key, error=NO_API)
    from prefect.client.schemas.actions import ArtifactCreate
    from prefect.exceptions import ObjectNotFound

    try:
        with _client(api_url) as client:
            run_uuid = _as_uuid(flow_run_id)
            if run_uuid is not None:
                try:
                    client.read_flow_run(run_uuid)
                except ObjectNotFound:
                    run_uuid = None
            created = client.create_artifact(
                ArtifactCreate(type="markdown", key=key, description=description, data=markdown, flow_run_id=run_uuid)
            )
    except Exception as exc:  # noqa: BLE001 - the file is published either way; the caller warns
        return ArtifactOutcome(key, error=_problem(exc, api_url))
    return ArtifactOutcome(key, str(created.id), str(run_uuid) if run_uuid else None)
