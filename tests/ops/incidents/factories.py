"""Builders for incident tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from ops.incidents.models import Severity, Source
from ops.incidents.service import Trigger

T0 = datetime(2026, 3, 5, 3, 0, tzinfo=timezone.utc)


def failure(n: int = 0, **overrides: Any) -> Trigger:
    spec: dict[str, Any] = {
        "title": "ingest-files failed: SourceNotFoundError",
        "severity": Severity.SEV2,
        "source": Source.FLOW_FAILURE,
        "dedup_key": "flow-failure:abc",
        "environment": "dev",
        "text": f"flow run {n} failed",
        "at": T0 + timedelta(seconds=3 * n),
        "flow_name": "ingest-files",
        "dataset": "orders",
        "flow_run_id": f"run-{n}",
    }
    spec.update(overrides)
    return Trigger(**spec)
