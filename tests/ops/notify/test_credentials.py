"""Secrets come from the environment or Prefect Secret blocks and never show up in rows, errors or logs."""

from __future__ import annotations

import logging

import pytest

from ops.notify.credentials import Redactor
from ops.notify.delivery import deliver_pending
from sluice.settings import get_settings
from tests.ops.notify.factories import (
    ROUTING_KEY,
    SECRETS,
    WEBHOOK_PATH,
    open_incident,
    queue,
    rows,
)
from tests.standins.pagerduty_slack import Reply


def _stored_text(engine) -> str:
    return "\n".join(f"{r.payload} {r.last_error} {r.external_ref}" for r in rows(engine))


def test_no_secret_is_stored_or_logged_even_when_a_server_echoes_it(incident_engine, pagerduty, slack, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    ref = open_incident(incident_engine)
    queue(incident_engine, ref, "update", text="still looking")
    pagerduty.reply(*[Reply(400, {"status": "invalid event", "errors": [f"routing key {ROUTING_KEY} is unknown"]})])
    slack.reply(Reply(500, "boom"), Reply(500, "boom"), Reply(500, "boom"), Reply(500, "boom"))

    deliver_pending(incident_engine, sleep=lambda _: None)
    deliver_pending(incident_engine, due_only=False)

    assert ROUTING_KEY in pagerduty.requests[0].raw.decode()  # it was sent where it belongs...
    pd_row = rows(incident_engine)[0]
    assert pd_row.status == "failed" and "routing key *** is unknown" in (pd_row.last_error or "")
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "ops.notify" in logged and "slack_sdk" in logged  # the loggers did speak...
    for secret in SECRETS:
        assert secret not in _stored_text(incident_engine) and secret not in logged  # ...and said no secret


def test_a_webhook_url_stays_out_of_logs(sqlite_engine, slack, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("SLUICE_SLACK_BOT_TOKEN")
    monkeypatch.setenv("SLUICE_SLACK_WEBHOOK_URL", f"{slack.url}{WEBHOOK_PATH}")
    monkeypatch.delenv("SLUICE_SLACK_CHANNEL")
    open_incident(sqlite_engine)
    slack.reply(Reply(503, "unavailable"))

    assert deliver_pending(sqlite_engine, sleep=lambda _: None).sent == 1
    assert "WEBHOOKSECRET9876" not in caplog.text and "WEBHOOKSECRET9876" not in _stored_text(sqlite_engine)


def test_settings_hold_secrets_that_print_masked(monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_PAGERDUTY_ROUTING_KEY", ROUTING_KEY)

    settings = get_settings().notify

    assert ROUTING_KEY not in repr(settings) and ROUTING_KEY not in str(settings.model_dump())
    assert Redactor.from_settings(settings)(f"key={ROUTING_KEY}!") == "key=***!"


def test_an_unloadable_secret_block_keeps_the_notification_pending(sqlite_engine, pagerduty, monkeypatch) -> None:
    monkeypatch.delenv("SLUICE_PAGERDUTY_ROUTING_KEY")
    monkeypatch.setenv("SLUICE_PAGERDUTY_SECRET_BLOCK", "pagerduty-routing-key")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing listens there
    open_incident(sqlite_engine)

    report = deliver_pending(sqlite_engine)

    assert report.pending == 1 and pagerduty.requests == []
    (row,) = rows(sqlite_engine)
    assert row.last_error.startswith("could not load the Prefect Secret block 'pagerduty-routing-key'")


@pytest.mark.usefixtures("prefect_api")
def test_the_routing_key_can_come_from_a_prefect_secret_block(sqlite_engine, pagerduty, monkeypatch) -> None:
    from prefect.blocks.system import Secret

    Secret(value="BLOCK-ROUTING-KEY-0001").save("sluice-pagerduty-test", overwrite=True)
    monkeypatch.delenv("SLUICE_PAGERDUTY_ROUTING_KEY")
    monkeypatch.setenv("SLUICE_PAGERDUTY_SECRET_BLOCK", "sluice-pagerduty-test")
    open_incident(sqlite_engine)

    assert deliver_pending(sqlite_engine).sent == 1
    assert pagerduty.bodies()[0]["routing_key"] == "BLOCK-ROUTING-KEY-0001"
    assert "BLOCK-ROUTING-KEY-0001" not in _stored_text(sqlite_engine)
