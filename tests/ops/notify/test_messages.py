"""What PagerDuty events and Slack messages say about an incident."""

from __future__ import annotations

from typing import Any

import pytest

from ops.errors import NotifyError
from ops.incidents.models import Incident, Severity, Source, Status
from ops.notify.messages import Action, ensure_action, pagerduty_event, slack_message
from sluice.settings import NotifySettings
from tests.ops.incidents.factories import T0
from tests.ops.notify.factories import RUN_URL

SETTINGS = NotifySettings(runbook_base_url="https://runbooks.example.com/sluice/")
RUNBOOK_URL = "https://runbooks.example.com/sluice/source-file-unreadable.md"


def incident(**overrides: Any) -> Incident:
    spec: dict[str, Any] = {
        "id": 42,
        "title": "ingest-files failed: SourceNotFoundError",
        "severity": Severity.SEV2,
        "environment": "prod",
        "source": Source.FLOW_FAILURE,
        "status": Status.TRIGGERED,
        "dedup_key": "flow-failure:abc",
        "signature": "SourceNotFoundError: s3://drop/orders/",
        "is_drill": False,
        "flow_name": "ingest-files",
        "deployment": "ingest-files/prod",
        "dataset": "orders",
        "flow_run_id": "run-7",
        "flow_run_url": RUN_URL,
        "runbook_id": "source-file-unreadable",
        "occurrences": 3,
        "opened_at": T0,
        "last_seen_at": T0,
    }
    spec.update(overrides)
    return Incident(**spec)


@pytest.mark.parametrize(
    ("severity", "expected"),
    [(Severity.SEV1, "critical"), (Severity.SEV2, "error"), (Severity.SEV3, "warning"), (Severity.SEV4, "info")],
)
def test_severity_maps_to_pagerduty_severity(severity: Severity, expected: str) -> None:
    event = pagerduty_event(incident(severity=severity), Action.TRIGGER, SETTINGS)

    assert event is not None and event["payload"]["severity"] == expected


def test_trigger_event_carries_dedup_key_links_and_custom_details() -> None:
    assert pagerduty_event(incident(), Action.TRIGGER, SETTINGS) == {
        "event_action": "trigger",
        "dedup_key": "flow-failure:abc",
        "payload": {
            "summary": "INC-42: ingest-files failed: SourceNotFoundError",
            "source": "sluice-prod",
            "severity": "error",
            "timestamp": "2026-03-05T03:00:00+00:00",
            "class": "flow-failure",
            "component": "orders",
            "group": "ingest-files",
            "custom_details": {
                "incident": "INC-42",
                "status": "triggered",
                "signature": "SourceNotFoundError: s3://drop/orders/",
                "occurrences": 3,
                "dataset": "orders",
                "flow": "ingest-files",
                "deployment": "ingest-files/prod",
                "flow_run_id": "run-7",
                "environment": "prod",
                "drill": False,
                "source": "flow-failure",
                "runbook": "source-file-unreadable",
                "opened_at": "2026-03-05T03:00:00+00:00",
            },
        },
        "links": [
            {"href": RUNBOOK_URL, "text": "Runbook: source-file-unreadable"},
            {"href": RUN_URL, "text": "Prefect flow run"},
        ],
    }


def test_acknowledge_and_resolve_carry_only_the_dedup_key_and_update_is_not_for_pagerduty() -> None:
    assert pagerduty_event(incident(), Action.ACKNOWLEDGE, SETTINGS) == {
        "event_action": "acknowledge",
        "dedup_key": "flow-failure:abc",
    }
    assert pagerduty_event(incident(), Action.RESOLVE, SETTINGS) == {
        "event_action": "resolve",
        "dedup_key": "flow-failure:abc",
    }
    assert pagerduty_event(incident(), Action.UPDATE, SETTINGS) is None


def test_links_need_a_runbook_base_url_and_a_run_url() -> None:
    event = pagerduty_event(incident(flow_run_url=None), Action.TRIGGER, NotifySettings(runbook_base_url=None))

    assert event is not None and "links" not in event
    assert event["payload"]["custom_details"]["runbook"] == "source-file-unreadable"


def test_drill_is_marked_in_the_summary_and_the_details() -> None:
    event = pagerduty_event(incident(is_drill=True), Action.TRIGGER, SETTINGS)

    assert event is not None
    assert event["payload"]["summary"].startswith("[DRILL] INC-42")
    assert event["payload"]["custom_details"]["drill"] is True


def test_slack_trigger_has_blocks_with_title_severity_status_and_links_and_a_text_fallback() -> None:
    message = slack_message(incident(occurrences=1), Action.TRIGGER, SETTINGS)

    assert message == {
        "text": (
            "[SEV2] INC-42 triggered: ingest-files failed: SourceNotFoundError (status triggered)"
            f" | Runbook: source-file-unreadable: {RUNBOOK_URL} | Prefect flow run: {RUN_URL}"
        ),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": (":large_orange_circle: *INC-42 triggered*\ningest-files failed: SourceNotFoundError"),
                },
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Severity*\nSEV2"},
                    {"type": "mrkdwn", "text": "*Status*\ntriggered"},
                    {"type": "mrkdwn", "text": "*Environment*\nprod"},
                    {"type": "mrkdwn", "text": "*Occurrences*\n1"},
                    {"type": "mrkdwn", "text": "*Dataset*\norders"},
                    {"type": "mrkdwn", "text": "*Flow*\ningest-files"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": (f"<{RUNBOOK_URL}|Runbook: source-file-unreadable>  ·  <{RUN_URL}|Prefect flow run>"),
                    }
                ],
            },
        ],
    }


def test_slack_update_carries_the_note_and_escapes_mrkdwn() -> None:
    message = slack_message(incident(title="a <b> & c"), Action.UPDATE, SETTINGS, note="rolled back <@here>")

    assert message["blocks"][0]["text"]["text"] == ":large_orange_circle: *INC-42 update*\na &lt;b&gt; &amp; c"
    assert message["blocks"][2] == {"type": "section", "text": {"type": "mrkdwn", "text": "rolled back &lt;@here&gt;"}}
    assert "— rolled back &lt;@here&gt;" in message["text"]


def test_a_repeated_trigger_says_it_failed_again() -> None:
    message = slack_message(incident(occurrences=5), Action.TRIGGER, SETTINGS)

    headline = message["blocks"][0]["text"]["text"]
    assert headline.startswith(":large_orange_circle: *INC-42 failed again (5 occurrences)*")


def test_without_a_runbook_base_url_the_runbook_is_named() -> None:
    message = slack_message(incident(flow_run_url=None), Action.RESOLVE, NotifySettings(runbook_base_url=None))

    assert message["blocks"][-1]["elements"][0]["text"] == "Runbook: `source-file-unreadable`"


def test_unknown_action_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(NotifyError, match="'page' is not a notification action") as caught:
        ensure_action("page")

    assert caught.value.hint == "use one of: trigger | acknowledge | resolve | update"
