"""Builders for notification tests: secrets to look for, incidents to notify about."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from ops.incidents.db import transaction
from ops.incidents.models import Incident, Notification, Status, utcnow
from ops.incidents.service import ensure_incident, transition, trigger
from ops.notify.outbox import enqueue
from tests.ops.incidents.factories import failure

ROUTING_KEY = "R0UTING0KEY0123456789abcdefSECRET"
BOT_TOKEN = "xoxb-1111-2222-BOTSECRETTOKEN"
WEBHOOK_PATH = "/services/T0001/B0001/WEBHOOKSECRET9876"
SECRETS = (ROUTING_KEY, BOT_TOKEN, "WEBHOOKSECRET9876")
CHANNEL = "C0INCIDENTS"
RUNBOOKS = "https://runbooks.example.com/sluice/"
RUN_URL = "https://prefect.example.com/runs/flow-run/run-0"


def open_incident(engine: Engine, n: int = 0, **overrides: Any) -> str:
    """Trigger an incident (with a runbook and a flow-run link), queue its ``trigger``; returns its ref."""
    spec: dict[str, Any] = {
        "runbook_id": "source-file-unreadable",
        "flow_run_url": RUN_URL,
        "signature": "SourceNotFoundError: s3://drop/orders/",
        "dedup_key": f"flow-failure:{n}",
    }
    spec.update(overrides)
    with transaction(engine) as session:
        incident = trigger(session, failure(n, **spec)).incident
        enqueue(session, incident, "trigger")
        return incident.ref


def queue(engine: Engine, ref: str, action: str, *, text: str | None = None, status: Status | None = None) -> None:
    """Optionally move the incident to ``status``, then queue ``action`` for it, in one transaction."""
    with transaction(engine) as session:
        incident = ensure_incident(session, ref)
        if status is not None:
            transition(session, incident, status, who="ana")
        enqueue(session, incident, action, text=text)


def rows(engine: Engine) -> list[Notification]:
    with transaction(engine) as session:
        return list(session.query(Notification).order_by(Notification.id))


def timeline(engine: Engine, ref: str) -> list[tuple[str, str]]:
    with transaction(engine) as session:
        incident: Incident = ensure_incident(session, ref)
        return [(e.kind, e.text) for e in incident.timeline]


def later(minutes: float = 10) -> datetime:
    return utcnow() + timedelta(minutes=minutes)
