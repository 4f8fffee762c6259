"""What a notification says: PagerDuty events and Slack messages built from an incident.

They are built when a notification is queued, so each one shows the incident
as it was then (its status, occurrence count), and they are stored as JSON
without any secret: the routing key, token or webhook URL is added when the
notification is sent.

**PagerDuty** gets Events API v2 events: ``trigger`` with the incident's dedup
key, a summary, the severity (SEV1→critical, SEV2→error, SEV3→warning,
SEV4→info), links to the runbook and the Prefect flow run, and
``custom_details`` with the failure signature and counts; ``acknowledge`` and
``resolve`` carry only the dedup key. PagerDuty has no notes, so ``update``
goes to Slack only.

**Slack** gets Block Kit blocks plus the top-level ``text`` that notifications
and old clients show. Every message carries the title, severity, status and
the links; an ``update`` adds its note.
"""

from __future__ import annotations

import enum
from typing import Any

from ops.errors import NotifyError
from ops.incidents.models import Incident, Severity
from sluice.settings import PAGERDUTY, NotifySettings


class Action(enum.StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    UPDATE = "update"


PAGERDUTY_SEVERITY = {
    Severity.SEV1: "critical",
    Severity.SEV2: "error",
    Severity.SEV3: "warning",
    Severity.SEV4: "info",
}
PAGERDUTY_ACTIONS = frozenset({Action.TRIGGER, Action.ACKNOWLEDGE, Action.RESOLVE})
HEADLINE = {
    Action.TRIGGER: "triggered",
    Action.ACKNOWLEDGE: "acknowledged",
    Action.RESOLVE: "resolved",
    Action.UPDATE: "update",
}
SEVERITY_ICON = {
    Severity.SEV1: ":red_circle:",
    Severity.SEV2: ":large_orange_circle:",
    Severity.SEV3: ":large_yellow_circle:",
    Severity.SEV4: ":white_circle:",
}
SUMMARY_LIMIT = 1024  # PagerDuty's limit for payload.summary
SECTION_LIMIT = 3000  # Slack's limit for a section's text


def ensure_action(action: Action | str) -> Action:
    """``action`` as an :class:`Action`, or a ``NotifyError`` naming the valid ones."""
    try:
        return Action(action)
    except ValueError:
        valid = " | ".join(a.value for a in Action)
        raise NotifyError(f"{action!r} is not a notification action", hint=f"use one of: {valid}") from None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _drill(incident: Incident) -> str:
    return "[DRILL] " if incident.is_drill else ""


def links(incident: Incident, settings: NotifySettings) -> list[dict[str, str]]:
    """``{"href", "text"}`` links to the runbook and the Prefect flow run, where they are known."""
    found = []
    if runbook := settings.runbook_url(incident.runbook_id):
        found.append({"href": runbook, "text": f"Runbook: {incident.runbook_id}"})
    if incident.flow_run_url:
        found.append({"href": incident.flow_run_url, "text": "Prefect flow run"})
    return found


def custom_details(incident: Incident) -> dict[str, Any]:
    return {
        "incident": incident.ref,
        "status": incident.status.value,
        "signature": incident.signature,
        "occurrences": incident.occurrences,
        "dataset": incident.dataset,
        "flow": incident.flow_name,
        "deployment": incident.deployment,
        "flow_run_id": incident.flow_run_id,
        "environment": incident.environment,
        "drill": incident.is_drill,
        "source": incident.source.value,
        "runbook": incident.runbook_id,
        "opened_at": incident.opened_at.isoformat(),
    }


def pagerduty_event(incident: Incident, action: Action, settings: NotifySettings) -> dict[str, Any] | None:
    """The Events API v2 body for ``action``, without the routing key; ``None`` for ``update``."""
    if action not in PAGERDUTY_ACTIONS:
        return None
    event: dict[str, Any] = {"event_action": action.value, "dedup_key": incident.dedup_key}
    if action is not Action.TRIGGER:
        return event
    payload = {
        "summary": _clip(f"{_drill(incident)}{incident.ref}: {incident.title}", SUMMARY_LIMIT),
        "source": f"sluice-{incident.environment}",
        "severity": PAGERDUTY_SEVERITY[incident.severity],
        "timestamp": incident.opened_at.isoformat(),
        "class": incident.source.value,
        "custom_details": custom_details(incident),
    }
    payload.update({k: v for k, v in (("component", incident.dataset), ("group", incident.flow_name)) if v})
    event["payload"] = payload
    if found := links(incident, settings):
        event["links"] = found
    return event


def escape(text: str) -> str:
    """Text made literal for Slack's mrkdwn (``&``, ``<`` and ``>`` are control characters there)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _headline(incident: Incident, action: Action) -> str:
    what = HEADLINE[action]
    if action is Action.TRIGGER and incident.occurrences > 1:
        what = f"failed again ({incident.occurrences} occurrences)"
    return f"{_drill(incident)}{incident.ref} {what}"


def _fields(incident: Incident) -> list[dict[str, str]]:
    pairs = [
        ("Severity", incident.severity.value),
        ("Status", incident.status.value),
        ("Environment", incident.environment),
        ("Occurrences", str(incident.occurrences)),
        ("Dataset", incident.dataset),
        ("Flow", incident.flow_name),
    ]
    return [{"type": "mrkdwn", "text": f"*{name}*\n{escape(value)}"} for name, value in pairs if value]


def _link_line(incident: Incident, settings: NotifySettings) -> str:
    parts = [f"<{link['href']}|{escape(link['text'])}>" for link in links(incident, settings)]
    if incident.runbook_id and settings.runbook_url(incident.runbook_id) is None:
        parts.insert(0, f"Runbook: `{escape(incident.runbook_id)}`")
    return "  ·  ".join(parts)


def slack_message(
    incident: Incident, action: Action, settings: NotifySettings, note: str | None = None
) -> dict[str, Any]:
    """``{"text", "blocks"}`` for ``chat.postMessage`` or a webhook (thread and channel are added at send time)."""
    headline = _headline(incident, action)
    icon = SEVERITY_ICON[incident.severity]
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _clip(f"{icon} *{escape(headline)}*\n{escape(incident.title)}", SECTION_LIMIT),
            },
        },
        {"type": "section", "fields": _fields(incident)},
    ]
    if note:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(escape(note), SECTION_LIMIT)}})
    line = _link_line(incident, settings)
    if line:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]})
    text = f"[{incident.severity.value}] {headline}: {incident.title} (status {incident.status.value})"
    if note:
        text += f" — {note}"
    text += "".join(f" | {link['text']}: {link['href']}" for link in links(incident, settings))
    return {"text": _clip(escape(text), SECTION_LIMIT), "blocks": blocks}


def channel_payload(
    incident: Incident, channel: str, action: Action, settings: NotifySettings, text: str | None = None
) -> dict[str, Any] | None:
    """What ``channel`` is sent for ``action``, configured or not; ``None`` when it does not take the action."""
    if channel == PAGERDUTY:
        return pagerduty_event(incident, action, settings)
    return slack_message(incident, action, settings, note=text)
