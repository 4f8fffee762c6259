"""``ops notify flush|list`` on a real SQLite incident store, against local PagerDuty and Slack servers."""

from __future__ import annotations

import json

from ops.incidents.db import open_engine, store_url
from tests.ops.factories import invoke, sluice_home
from tests.ops.notify.conftest import _quick_delivery, pagerduty, slack, tls_ca  # noqa: F401  (fixtures)
from tests.ops.notify.factories import SECRETS, open_incident
from tests.standins.pagerduty_slack import Reply


def _store(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    return open_engine(store_url(settings.home))


def test_flush_sends_the_outbox_and_list_shows_it_sent(monkeypatch, tmp_path, pagerduty, slack) -> None:
    open_incident(_store(monkeypatch, tmp_path))

    flushed = invoke("notify", "flush", "-o", "json")
    listed = invoke("notify", "list", "--status", "sent", "-o", "json")

    assert flushed.exit_code == 0, flushed.output
    report = json.loads(flushed.stdout)
    assert (report["sent"], report["pending"], report["failed"], report["waiting"]) == (2, 0, 0, 0)
    assert [(n["channel"], n["status"]) for n in report["notifications"]] == [("pagerduty", "sent"), ("slack", "sent")]
    sent = json.loads(listed.stdout)
    assert [(n["incident"], n["channel"], n["action"]) for n in sent] == [
        ("INC-1", "slack", "trigger"),
        ("INC-1", "pagerduty", "trigger"),
    ]
    assert sent[1]["payload"]["dedup_key"] == "flow-failure:0" and "routing_key" not in sent[1]["payload"]
    assert json.loads(invoke("notify", "flush", "-o", "json").stdout)["notifications"] == []
    for secret in SECRETS:
        assert secret not in flushed.stdout and secret not in listed.stdout


def test_flush_exits_1_and_keeps_what_it_could_not_send(monkeypatch, tmp_path, pagerduty, slack) -> None:
    open_incident(_store(monkeypatch, tmp_path))
    pagerduty.stop()
    slack.reply(Reply(200, {"ok": False, "error": "invalid_auth"}))

    flushed = invoke("notify", "flush", "-o", "json")
    pending = json.loads(invoke("notify", "list", "--status", "pending", "-o", "json").stdout)
    failed = json.loads(invoke("notify", "list", "--status", "failed", "-o", "json").stdout)

    assert flushed.exit_code == 1
    assert json.loads(flushed.stdout)["pending"] == 1 and "stay in the outbox" in flushed.stderr
    assert [(n["channel"], n["attempts"]) for n in pending] == [("pagerduty", 1)]
    assert pending[0]["last_error"].startswith("PagerDuty unreachable")
    assert [(n["channel"], n["last_error"]) for n in failed] == [("slack", "Slack refused the message: invalid_auth")]
    for secret in SECRETS:
        assert secret not in flushed.stdout + flushed.stderr


def test_list_table_and_an_empty_outbox(monkeypatch, tmp_path, pagerduty) -> None:
    engine = _store(monkeypatch, tmp_path)
    monkeypatch.setenv("COLUMNS", "200")

    assert json.loads(invoke("notify", "list", "-o", "json").stdout) == []
    assert "no notifications" in invoke("notify", "list").stdout
    open_incident(engine)
    table = invoke("notify", "list")
    assert table.exit_code == 0 and "pagerduty" in table.stdout and "pending" in table.stdout


def test_a_status_that_does_not_exist_is_a_usage_error(monkeypatch, tmp_path) -> None:
    sluice_home(monkeypatch, tmp_path)

    result = invoke("notify", "list", "--status", "lost")

    assert result.exit_code == 2
