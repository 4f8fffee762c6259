"""PagerDuty delivery through the real ``pagerduty`` client against a local HTTPS Events API."""

from __future__ import annotations

from datetime import timedelta

from ops.incidents.models import Status
from ops.notify.delivery import deliver_pending
from tests.ops.notify.factories import (
    ROUTING_KEY,
    RUN_URL,
    later,
    open_incident,
    queue,
    rows,
    timeline,
)
from tests.standins.pagerduty_slack import Reply

RUNBOOK_URL = "https://runbooks.example.com/sluice/source-file-unreadable.md"


def test_trigger_acknowledge_resolve_send_these_exact_events(incident_engine, pagerduty) -> None:
    ref = open_incident(incident_engine)
    queue(incident_engine, ref, "acknowledge", status=Status.ACKNOWLEDGED)
    queue(incident_engine, ref, "resolve", status=Status.RESOLVED)

    report = deliver_pending(incident_engine)

    assert (report.sent, report.pending, report.failed) == (3, 0, 0)
    assert [r.path for r in pagerduty.requests] == ["/v2/enqueue"] * 3
    trigger, ack, resolve = pagerduty.bodies()
    assert trigger == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "flow-failure:0",
        "payload": {
            "summary": "INC-1: ingest-files failed: SourceNotFoundError",
            "source": "sluice-dev",
            "severity": "error",
            "timestamp": "2026-03-05T03:00:00+00:00",
            "class": "flow-failure",
            "component": "orders",
            "group": "ingest-files",
            "custom_details": {
                "incident": "INC-1",
                "status": "triggered",
                "signature": "SourceNotFoundError: s3://drop/orders/",
                "occurrences": 1,
                "dataset": "orders",
                "flow": "ingest-files",
                "deployment": None,
                "flow_run_id": "run-0",
                "environment": "dev",
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
    assert ack == {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": "flow-failure:0"}
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "flow-failure:0"}
    stored = rows(incident_engine)
    assert [(r.action, r.status, r.attempts, r.external_ref) for r in stored] == [
        ("trigger", "sent", 1, "flow-failure:0"),
        ("acknowledge", "sent", 1, "flow-failure:0"),
        ("resolve", "sent", 1, "flow-failure:0"),
    ]
    assert all(r.sent_at is not None and r.last_error is None for r in stored)
    notify = [text for kind, text in timeline(incident_engine, ref) if kind == "notify"]
    assert notify == [f"pagerduty {a} delivered (flow-failure:0)" for a in ("trigger", "acknowledge", "resolve")]


def test_429_is_retried_after_the_wait_retry_after_asks_for(sqlite_engine, pagerduty) -> None:
    open_incident(sqlite_engine)
    pagerduty.reply(Reply(429, {"status": "throttle"}, {"Retry-After": "7"}))
    sleeps: list[float] = []

    report = deliver_pending(sqlite_engine, sleep=sleeps.append)

    assert sleeps == [7.0]
    assert len(pagerduty.requests) == 2 and pagerduty.bodies()[0] == pagerduty.bodies()[1]
    assert report.sent == 1 and report.notifications[0].requests == 2
    (row,) = rows(sqlite_engine)
    assert (row.status, row.attempts) == ("sent", 1)


def test_5xx_is_retried_with_exponential_backoff(sqlite_engine, pagerduty, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_NOTIFY_BACKOFF_SECONDS", "0.5")
    open_incident(sqlite_engine)
    pagerduty.reply(Reply(500, {"status": "error"}), Reply(503, "unavailable"), Reply(502, "bad gateway"))
    sleeps: list[float] = []

    report = deliver_pending(sqlite_engine, sleep=sleeps.append)

    assert sleeps == [0.5, 1.0, 2.0]
    assert len(pagerduty.requests) == 4 and report.sent == 1


def test_a_notification_that_keeps_failing_stays_pending_with_its_error(incident_engine, pagerduty) -> None:
    open_incident(incident_engine)
    pagerduty.reply(*[Reply(500, {"status": "error", "message": "boom"})] * 4)
    sleeps: list[float] = []
    now = later(0)

    report = deliver_pending(incident_engine, now, sleep=sleeps.append)

    assert len(pagerduty.requests) == 4 and len(sleeps) == 3
    assert (report.sent, report.pending) == (0, 1)
    (row,) = rows(incident_engine)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == 'PagerDuty answered HTTP 500: {"status": "error", "message": "boom"}'
    assert row.next_attempt_at == now + timedelta(seconds=60)


def test_a_long_retry_after_reschedules_instead_of_waiting(sqlite_engine, pagerduty) -> None:
    open_incident(sqlite_engine)
    pagerduty.reply(Reply(429, {"status": "throttle"}, {"Retry-After": "3600"}))
    sleeps: list[float] = []
    now = later(0)

    deliver_pending(sqlite_engine, now, sleep=sleeps.append)

    assert sleeps == [] and len(pagerduty.requests) == 1
    (row,) = rows(sqlite_engine)
    assert row.status == "pending" and row.next_attempt_at == now + timedelta(seconds=3600)
    assert deliver_pending(sqlite_engine, now + timedelta(seconds=3599)).waiting == 1
    assert deliver_pending(sqlite_engine, now + timedelta(seconds=3600)).sent == 1


def test_a_rejected_event_fails_for_good_and_says_so_on_the_timeline(incident_engine, pagerduty) -> None:
    ref = open_incident(incident_engine)
    pagerduty.reply(Reply(400, {"status": "invalid event", "message": "Event object is invalid"}))

    report = deliver_pending(incident_engine)

    assert report.failed == 1 and len(pagerduty.requests) == 1
    (row,) = rows(incident_engine)
    assert row.status == "failed" and "HTTP 400" in (row.last_error or "")
    assert ("notify-failed", f"pagerduty trigger rejected: {row.last_error}") in timeline(incident_engine, ref)
    assert deliver_pending(incident_engine, later()).notifications == []
