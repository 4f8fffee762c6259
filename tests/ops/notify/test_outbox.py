"""The outbox on SQLite and PostgreSQL: queued with the incident, sent once, kept through an outage."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from ops.errors import NotifyError
from ops.incidents.db import transaction
from ops.incidents.models import Incident, Notification, Status, utcnow
from ops.incidents.service import ensure_incident, trigger
from ops.notify.delivery import deliver_pending
from ops.notify.outbox import claim, enqueue
from tests.ops.incidents.factories import failure
from tests.ops.notify.factories import later, open_incident, queue, rows, timeline
from tests.standins.pagerduty_slack import Reply


def test_enqueue_adds_one_row_per_configured_channel_that_takes_the_action(incident_engine, pagerduty, slack) -> None:
    ref = open_incident(incident_engine)
    queue(incident_engine, ref, "update", text="looking")

    assert [(r.channel, r.action, r.status, r.attempts) for r in rows(incident_engine)] == [
        ("pagerduty", "trigger", "pending", 0),
        ("slack", "trigger", "pending", 0),
        ("slack", "update", "pending", 0),
    ]
    assert pagerduty.requests == [] and slack.requests == []


def test_without_a_configured_channel_nothing_is_queued(incident_engine) -> None:
    open_incident(incident_engine)

    assert rows(incident_engine) == []
    assert deliver_pending(incident_engine).notifications == []


def test_a_bot_token_without_a_channel_queues_nothing_and_says_why(incident_engine, monkeypatch, caplog) -> None:
    monkeypatch.setenv("SLUICE_SLACK_BOT_TOKEN", "xoxb-1111-2222-BOTSECRETTOKEN")

    open_incident(incident_engine)

    assert rows(incident_engine) == []
    assert "SLUICE_SLACK_CHANNEL is not" in caplog.text and "BOTSECRETTOKEN" not in caplog.text


def test_enqueue_is_part_of_the_callers_transaction(incident_engine, pagerduty) -> None:
    with pytest.raises(RuntimeError), transaction(incident_engine) as session:
        incident = trigger(session, failure()).incident
        enqueue(session, incident, "trigger")
        raise RuntimeError("the caller's transaction fails")

    with transaction(incident_engine) as session:
        assert session.query(Incident).count() == 0 and session.query(Notification).count() == 0


@pytest.mark.parametrize(
    ("action", "text", "message"),
    [("page", None, "'page' is not a notification action"), ("update", "  ", "an update needs some text")],
)
def test_enqueue_refuses_what_it_cannot_send(incident_engine, pagerduty, action, text, message) -> None:
    with transaction(incident_engine) as session:
        incident = trigger(session, failure()).incident
        with pytest.raises(NotifyError, match=message):
            enqueue(session, incident, action, text=text)


def test_the_outbox_survives_an_outage_and_sends_each_notification_once(incident_engine, pagerduty, slack) -> None:
    pagerduty.stop()
    slack.stop()
    ref = open_incident(incident_engine)
    queue(incident_engine, ref, "acknowledge", status=Status.ACKNOWLEDGED)

    down = deliver_pending(incident_engine, sleep=lambda _: None)

    assert (down.sent, down.pending, down.waiting) == (0, 2, 2)  # each trigger tried; each ack held behind it
    stored = rows(incident_engine)
    assert [r.status for r in stored] == ["pending"] * 4
    pd_trigger, slack_trigger = (r for r in stored if r.action == "trigger")
    assert pd_trigger.last_error.startswith("PagerDuty unreachable or answered unexpectedly (ConnectError:")
    assert slack_trigger.last_error.startswith("Slack unreachable (URLError:")
    assert pd_trigger.attempts == 1 and pd_trigger.next_attempt_at > utcnow()
    with transaction(incident_engine) as session:
        assert ensure_incident(session, ref).status is Status.ACKNOWLEDGED  # the incident did not wait for anyone

    pagerduty.start()
    slack.start()
    back = deliver_pending(incident_engine, later())
    again = deliver_pending(incident_engine, later(60))

    assert back.sent == 4 and again.notifications == [] and again.waiting == 0
    assert [b["event_action"] for b in pagerduty.bodies()] == ["trigger", "acknowledge"]
    assert len(slack.requests) == 2 and slack.bodies()[1]["thread_ts"] == "1700000000.000001"
    assert [r.status for r in rows(incident_engine)] == ["sent"] * 4
    assert [kind for kind, _ in timeline(incident_engine, ref)].count("notify") == 4


def test_a_claimed_row_is_sent_by_its_claimer_only(incident_engine, pagerduty) -> None:
    open_incident(incident_engine)
    (row,) = rows(incident_engine)
    now = utcnow()

    mine = claim(incident_engine, row.id, now, timedelta(minutes=5))

    assert mine is not None and mine.status == "sending" and mine.attempts == 1
    assert claim(incident_engine, row.id, now, timedelta(minutes=5)) is None
    assert deliver_pending(incident_engine, now).waiting == 1 and pagerduty.requests == []
    # the claimer died: once its lease has run out the row is taken over and sent once
    assert deliver_pending(incident_engine, now + timedelta(minutes=6)).sent == 1
    assert len(pagerduty.requests) == 1 and rows(incident_engine)[0].attempts == 2


def test_concurrent_flushes_send_each_notification_exactly_once(incident_engine, pagerduty, slack) -> None:
    for n in range(6):
        open_incident(incident_engine, n)
    reports = []
    flushers = [threading.Thread(target=lambda: reports.append(deliver_pending(incident_engine))) for _ in range(3)]

    for flusher in flushers:
        flusher.start()
    for flusher in flushers:
        flusher.join()

    assert sum(r.sent for r in reports) == 12
    assert sorted(b["dedup_key"] for b in pagerduty.bodies()) == [f"flow-failure:{n}" for n in range(6)]
    assert len(slack.requests) == 6
    assert {r.status for r in rows(incident_engine)} == {"sent"}


def test_an_undelivered_notification_holds_back_its_incident_and_its_channel_only(
    incident_engine, pagerduty, slack
) -> None:
    first = open_incident(incident_engine, 0)
    queue(incident_engine, first, "resolve", status=Status.RESOLVED)
    open_incident(incident_engine, 1)
    pagerduty.reply(*[pagerduty_error()] * 4)

    report = deliver_pending(incident_engine, sleep=lambda _: None)

    assert [(o.incident, o.channel, o.action, o.status) for o in report.notifications] == [
        ("INC-1", "pagerduty", "trigger", "pending"),
        ("INC-1", "slack", "trigger", "sent"),
        ("INC-1", "slack", "resolve", "sent"),
        ("INC-2", "slack", "trigger", "sent"),
    ]
    assert report.waiting == 2  # INC-1's resolve behind its trigger; INC-2's trigger while PagerDuty is down
    assert len(pagerduty.requests) == 4
    assert deliver_pending(incident_engine, later()).sent == 3
    assert [b["event_action"] for b in pagerduty.bodies()[4:]] == ["trigger", "resolve", "trigger"]


def test_flush_can_send_before_the_next_attempt_is_due(incident_engine, pagerduty) -> None:
    open_incident(incident_engine)
    pagerduty.reply(*[pagerduty_error()] * 4)
    deliver_pending(incident_engine, sleep=lambda _: None)

    assert deliver_pending(incident_engine).waiting == 1
    assert deliver_pending(incident_engine, due_only=False).sent == 1


def pagerduty_error() -> Reply:
    return Reply(502, "bad gateway")
