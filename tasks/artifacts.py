"""Prefect artifacts on a flow run: created on the run itself, keyed by environment and drill.

An artifact made here names its flow run (``flow_run_id``) and no task run,
so the Prefect UI lists it on the flow run's Artifacts tab, whichever task
or hook made it. Its key starts with the run's scope: the environment
(``dev-ingest-orders-summary``) and, for a run of a chaos drill (tagged
``drill-<id>``), the drill (``staging-drill-<id>-ingest-orders-summary``).
A key's history in the UI is then the runs of one environment, or of one
drill, never a mix of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sluice.display import artifact_key

DRILL_TAG_PREFIX = "drill-"
"""A flow run of a chaos drill is tagged ``drill-<id>`` (besides ``chaos-drill``)."""


def scope_of(env: str, tags: Iterable[str] = ()) -> str:
    """The key prefix of a run in ``env`` with ``tags``: ``<env>``, or ``<env>-drill-<id>`` in a drill."""
    drill = next((t for t in tags if t.startswith(DRILL_TAG_PREFIX) and len(t) > len(DRILL_TAG_PREFIX)), None)
    return artifact_key(env, drill)


@dataclass(frozen=True)
class RunArtifacts:
    """Where a flow run's artifacts go: the run, and the scope their keys start with."""

    flow_run_id: UUID | None
    scope: str

    @classmethod
    def of(cls, flow_run: Any, env: str) -> RunArtifacts:
        """The artifacts of ``flow_run`` (a Prefect ``FlowRun``, or None outside a flow run) in ``env``."""
        if flow_run is None:
            return cls(None, scope_of(env))
        return cls(UUID(str(flow_run.id)), scope_of(env, getattr(flow_run, "tags", None) or ()))

    @classmethod
    def current(cls, env: str) -> RunArtifacts:
        """The artifacts of the flow run this code runs in (from its flow or from one of its tasks)."""
        from prefect.context import FlowRunContext

        context = FlowRunContext.get()
        return cls.of(context.flow_run if context is not None else None, env)

    def key(self, *parts: str | None) -> str:
        """The artifact key ``<scope>-<parts...>``."""
        return artifact_key(self.scope, *parts)

    def markdown(self, text: str, *, key: str, description: str) -> UUID | None:
        return self._create("markdown", text, key, description)

    def table(self, rows: Sequence[dict[str, object]], *, key: str, description: str) -> UUID | None:
        return self._create("table", json.dumps(list(rows), default=str), key, description)

    def _create(self, kind: str, data: str, key: str, description: str) -> UUID | None:
        """Create the artifact on the flow run; None (and nothing created) outside a flow run."""
        if self.flow_run_id is None:
            return None
        from prefect import get_client
        from prefect.client.schemas.actions import ArtifactCreate

        with get_client(sync_client=True) as client:
            created = client.create_artifact(
                ArtifactCreate(type=kind, key=key, data=data, description=description, flow_run_id=self.flow_run_id)
            )
        return created.id
