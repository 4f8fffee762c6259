"""``make fail``: a failed run opens an incident and shows what it queued, or what it would page."""

from __future__ import annotations

import pytest
from rich.console import Console

from flows.failing_run import fail_once
from ops.incidents.db import open_engine, store_url, transaction
from ops.notify import list_notifications

pytestmark = [pytest.mark.integration, pytest.mark.serial]
CHANNEL_VARS = (
    "SLUICE_PAGERDUTY_ROUTING_KEY",
    "SLUICE_PAGERDUTY_SECRET_BLOCK",
    "SLUICE_SLACK_BOT_TOKEN",
    "SLUICE_SLACK_SECRET_BLOCK",
    "SLUICE_SLACK_WEBHOOK_URL",
    "SLUICE_SLACK_WEBHOOK_SECRET_BLOCK",
)


def run_demo(home) -> tuple[int, str]:
    out = Console(record=True, width=120, soft_wrap=True)
    code = fail_once(home, out)
    return code, out.export_text()


def outbox(home) -> list[tuple[str, str, str]]:
    with transaction(open_engine(store_url(home))) as session:
        return sorted((n.channel, n.action, n.status) for n in list_notifications(session))


def test_without_channels_it_prints_what_would_be_paged_and_queues_nothing(prefect_api, sluice_home, monkeypatch):
    for name in CHANNEL_VARS:
        monkeypatch.delenv(name, raising=False)

    code, first = run_demo(sluice_home.home)
    code_again, second = run_demo(sluice_home.home)

    assert (code, code_again) == (0, 0)
    assert "incident INC-1 (SEV2, triggered, seen 1x), runbook source-unreachable" in first
    assert "would send pagerduty trigger: flow-failure:" in first and "severity error: INC-1: " in first
    assert "would send slack trigger: [SEV2] INC-1 triggered" in first
    assert "no PagerDuty or Slack is configured, so nothing was queued" in first
    assert "ops notify list" in first and "ops incident show INC-1" in first
    assert "seen 2x" in second and "would send pagerduty" not in second  # PagerDuty takes no updates
    assert "would send slack update: " in second and "failed again: 2 occurrences" in second
    assert outbox(sluice_home.home) == []


def test_with_channels_it_prints_what_was_queued_and_how_it_went(prefect_api, sluice_home, pagerduty, slack):
    code, text = run_demo(sluice_home.home)

    assert code == 0
    assert "Queued in the notification outbox:" in text
    assert "pagerduty trigger, sent: flow-failure:" in text and "slack trigger, sent: [SEV2] INC-1 triggered" in text
    assert "would send" not in text
    assert outbox(sluice_home.home) == [("pagerduty", "trigger", "sent"), ("slack", "trigger", "sent")]
    assert [b["event_action"] for b in pagerduty.bodies()] == ["trigger"] and len(slack.bodies()) == 1
