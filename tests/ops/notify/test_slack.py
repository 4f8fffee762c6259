"""Slack delivery through the real ``slack_sdk`` clients against a local Slack API."""

from __future__ import annotations

import json

import pytest

from ops.incidents.models import Notification, Status
from ops.notify.delivery import deliver_pending
from tests.ops.notify.factories import (
    BOT_TOKEN,
    CHANNEL,
    WEBHOOK_PATH,
    open_incident,
    queue,
    rows,
)
from tests.standins.pagerduty_slack import Reply


def _payload(row: Notification) -> dict:
    return json.loads(row.payload)


def test_the_first_message_opens_a_thread_and_later_ones_reply_in_it(incident_engine, slack) -> None:
    ref = open_incident(incident_engine)
    queue(incident_engine, ref, "update", text="rolled back the source change")
    queue(incident_engine, ref, "resolve", status=Status.RESOLVED)
    open_incident(incident_engine, 1)

    report = deliver_pending(incident_engine)

    assert report.sent == 4
    assert [r.path for r in slack.requests] == ["/api/chat.postMessage"] * 4
    assert {r.headers["Authorization"] for r in slack.requests} == {f"Bearer {BOT_TOKEN}"}
    first, note, resolve, other_first = slack.bodies()
    stored = {r.id: r for r in rows(incident_engine)}
    assert first == {"channel": CHANNEL, **_payload(stored[1])}
    assert note == {"channel": CHANNEL, "thread_ts": "1700000000.000001", **_payload(stored[2])}
    assert resolve == {"channel": CHANNEL, "thread_ts": "1700000000.000001", **_payload(stored[3])}
    assert "thread_ts" not in other_first and other_first["text"].startswith("[SEV2] INC-2 triggered")
    assert note["blocks"][2] == {"type": "section", "text": {"type": "mrkdwn", "text": "rolled back the source change"}}
    assert resolve["text"].startswith(
        "[SEV2] INC-1 resolved: ingest-files failed: SourceNotFoundError "
        "(status resolved) | Runbook: source-file-unreadable: https://"
    )
    assert [r.external_ref for r in stored.values()] == [f"1700000000.00000{n}" for n in range(1, 5)]


def test_429_waits_for_retry_after_and_5xx_backs_off(sqlite_engine, slack, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_NOTIFY_BACKOFF_SECONDS", "0.25")
    open_incident(sqlite_engine)
    slack.reply(
        Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"}),
        Reply(503, "<html>unavailable</html>", {"Content-Type": "text/html"}),
    )
    sleeps: list[float] = []

    report = deliver_pending(sqlite_engine, sleep=sleeps.append)

    assert sleeps == [3.0, 0.5]
    assert report.sent == 1 and len(slack.requests) == 3
    assert slack.bodies()[0] == slack.bodies()[2]


def test_an_error_slack_will_keep_giving_fails_for_good(sqlite_engine, slack) -> None:
    open_incident(sqlite_engine)
    slack.reply(Reply(200, {"ok": False, "error": "channel_not_found"}))

    report = deliver_pending(sqlite_engine)

    assert report.failed == 1 and len(slack.requests) == 1
    (row,) = rows(sqlite_engine)
    assert (row.status, row.last_error) == ("failed", "Slack refused the message: channel_not_found")


@pytest.fixture()
def webhook(slack, monkeypatch):
    """Slack through an incoming webhook only (no bot token)."""
    monkeypatch.delenv("SLUICE_SLACK_BOT_TOKEN")
    monkeypatch.delenv("SLUICE_SLACK_CHANNEL")
    monkeypatch.setenv("SLUICE_SLACK_WEBHOOK_URL", f"{slack.url}{WEBHOOK_PATH}")
    return slack


def test_a_webhook_posts_every_message_on_its_own(incident_engine, webhook) -> None:
    ref = open_incident(incident_engine)
    queue(incident_engine, ref, "acknowledge", status=Status.ACKNOWLEDGED)

    report = deliver_pending(incident_engine)

    assert report.sent == 2
    assert [r.path for r in webhook.requests] == [WEBHOOK_PATH] * 2
    stored = rows(incident_engine)
    assert webhook.bodies() == [_payload(r) for r in stored]
    assert [r.external_ref for r in stored] == [None, None]


def test_a_webhook_429_is_retried_after_retry_after(sqlite_engine, webhook) -> None:
    open_incident(sqlite_engine)
    webhook.reply(Reply(429, "rate_limited", {"Retry-After": "2"}))
    sleeps: list[float] = []

    assert deliver_pending(sqlite_engine, sleep=sleeps.append).sent == 1
    assert sleeps == [2.0] and len(webhook.requests) == 2
