"""The bounded pass of an incident change, and the background deliverer that sends the rest."""

from __future__ import annotations

import io
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.incidents.db import open_engine, store_url
from ops.incidents.models import utcnow
from ops.notify import background
from ops.notify.background import (
    DelivererLock,
    deliver_soon,
    ensure_background,
    run_from,
)
from ops.notify.delivery import deliver_pending
from ops.respond.service import flush_notifications
from sluice.errors import ConfigError
from sluice.settings import get_settings
from tests.ops.factories import sluice_home as home_at
from tests.ops.notify.background import Outage, all_sent, eventually, live_deliverers
from tests.ops.notify.factories import open_incident, rows
from tests.standins.pagerduty_slack import FakeService, Reply


def test_a_bounded_pass_makes_one_request_and_never_waits_for_retry_after(sqlite_engine, pagerduty) -> None:
    open_incident(sqlite_engine)
    pagerduty.reply(Reply(429, {"status": "throttle"}, {"Retry-After": "7"}))
    sleeps: list[float] = []
    now = utcnow()

    report = deliver_pending(sqlite_engine, now, bounded=True, sleep=sleeps.append)

    assert sleeps == [] and len(pagerduty.requests) == 1 and report.pending == 1
    (row,) = rows(sqlite_engine)
    assert (row.status, row.next_attempt_at) == ("pending", now + timedelta(seconds=7))


def test_a_server_error_in_a_bounded_pass_is_one_request_and_leaves_the_page_due_at_once(
    sqlite_engine, pagerduty
) -> None:
    open_incident(sqlite_engine)
    pagerduty.reply(Reply(503, "unavailable"), Reply(503, "unavailable"))
    now = utcnow()

    deliver_pending(sqlite_engine, now, bounded=True, sleep=lambda _: pytest.fail("a bounded pass slept"))

    assert len(pagerduty.requests) == 1  # neither Sluice nor the pagerduty client retried the 5xx
    (row,) = rows(sqlite_engine)
    assert (row.status, row.next_attempt_at, row.attempts) == ("pending", now, 1)
    assert deliver_pending(sqlite_engine, now).sent == 1  # due at once for the background deliverer


def test_a_bounded_pass_claims_nothing_more_once_its_budget_is_spent(
    sqlite_engine, pagerduty, slack, monkeypatch
) -> None:
    monkeypatch.setenv("SLUICE_NOTIFY_ATTEMPT_BUDGET", "0.3")  # shorter than one black-holed request
    open_incident(sqlite_engine)
    down = Outage("black-holed", pagerduty)
    try:
        report = deliver_pending(sqlite_engine, bounded=True)
    finally:
        down.end()

    assert (report.pending, report.waiting) == (1, 1) and slack.requests == []
    assert [r.status for r in rows(sqlite_engine)] == ["pending", "pending"]


def test_the_caller_waits_no_longer_than_budget_and_timeout_even_for_a_pass_that_hangs(
    sqlite_engine, pagerduty, deliverers, monkeypatch
) -> None:
    release = threading.Event()
    pagerduty.stop()  # so the deliverer started for the page stays until the test looks
    open_incident(sqlite_engine)
    monkeypatch.setattr(background, "deliver_pending", lambda *a, **k: release.wait(30))
    started = time.monotonic()
    try:
        report = deliver_soon(sqlite_engine)
        took = time.monotonic() - started
    finally:
        release.set()

    assert report is None and took < 2.0
    assert live_deliverers()  # what the stuck pass did not send is the background deliverer's


def test_without_background_delivery_nothing_is_started_and_the_page_waits(
    sqlite_engine, pagerduty, deliverers, monkeypatch
) -> None:
    monkeypatch.setenv("SLUICE_NOTIFY_BACKGROUND", "false")
    pagerduty.stop()
    open_incident(sqlite_engine)

    flush_notifications(sqlite_engine)

    assert not live_deliverers() and [r.status for r in rows(sqlite_engine)] == ["pending"]


def test_concurrent_deliverers_and_a_flush_send_each_notification_exactly_once(
    incident_engine, pagerduty: FakeService, slack: FakeService, deliverers: Path
) -> None:
    pagerduty.stop()
    for n in range(4):
        open_incident(incident_engine, n)

    started = [ensure_background(incident_engine) for _ in range(3)]
    eventually(lambda: len(live_deliverers()) == 1, "all deliverers but one giving way to the lock's holder")
    pagerduty.start()
    flushed = deliver_pending(incident_engine, due_only=False)  # an operator flushing at the same time
    eventually(lambda: all_sent(incident_engine), "delivery of every notification")

    assert started[0] is not None and flushed.failed == 0
    assert sorted(b["dedup_key"] for b in pagerduty.accepted()) == [f"flow-failure:{n}" for n in range(4)]
    assert sorted(b["text"][:13] for b in slack.accepted()) == [f"[SEV2] INC-{n} " for n in range(1, 5)]
    eventually(lambda: not live_deliverers(), "the deliverer exiting once the outbox is empty")


def test_a_deliverer_that_gave_up_leaves_its_pages_to_the_next_incident_change(
    sqlite_engine, pagerduty: FakeService, deliverers: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SLUICE_NOTIFY_BACKGROUND_SECONDS", "1")
    pagerduty.stop()
    open_incident(sqlite_engine, 0)
    assert ensure_background(sqlite_engine) is not None
    eventually(lambda: not live_deliverers(), "the deliverer giving up")
    assert [r.status for r in rows(sqlite_engine)] == ["pending"]

    pagerduty.start()
    open_incident(sqlite_engine, 1)
    flush_notifications(sqlite_engine)

    eventually(lambda: all_sent(sqlite_engine), "delivery of both pages")
    assert sorted(b["dedup_key"] for b in pagerduty.accepted()) == ["flow-failure:0", "flow-failure:1"]


def test_serve_delivers_in_the_foreground_keeps_detached_deliverers_away_and_stops_on_sigterm(
    monkeypatch, tmp_path: Path, pagerduty: FakeService, deliverers: Path
) -> None:
    engine = open_engine(store_url(home_at(monkeypatch, tmp_path).home))
    pagerduty.stop()
    serve = subprocess.Popen(
        [sys.executable, "-c", "from ops.cli import main; main()", "notify", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(
            lambda: DelivererLock.of(engine.url, get_settings().notify).holder() == serve.pid,
            "serve taking the store's deliverer lock",
        )
        open_incident(engine)
        flush_notifications(engine)  # PagerDuty is down: the bounded pass fails, and serve is already there
        assert not live_deliverers()
        pagerduty.start()
        eventually(lambda: all_sent(engine), "delivery by serve")
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=60)

    assert serve.returncode == 0, err
    assert "1 sent, 0 failed" in out and len(pagerduty.accepted()) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    url=st.one_of(
        st.text(max_size=120).filter(lambda s: "://" not in s),
        st.sampled_from(
            ["", "nosuch+driver://u:SECRETPW@127.0.0.1/x", "sqlite", "postgresql+psycopg://u:SECRETPW@127.0.0.1:1/x"]
        ),
    )
)
def test_a_deliverer_given_an_unusable_store_url_exits_2_and_never_logs_it(url: str, caplog) -> None:
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="ops.notify"):
        assert run_from(io.StringIO(url + "\n")) == 2

    (record,) = [r for r in caplog.records if r.name == "ops.notify"]
    assert re.fullmatch(
        r"background deliverer not started: \w+ \(check SLUICE_INCIDENTS_URL and the "
        r"SLUICE_NOTIFY_\* settings\)",
        record.getMessage(),
    )
    assert "SECRETPW" not in caplog.text


def test_an_in_memory_store_gets_no_background_deliverer(deliverers) -> None:
    import sqlalchemy as sa

    assert ensure_background(sa.create_engine("sqlite://")) is None and not live_deliverers()


def test_an_unwritable_run_folder_leaves_the_page_queued_and_says_what_to_do(
    sqlite_engine, pagerduty, deliverers, monkeypatch, tmp_path, caplog
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the run folder should be")
    monkeypatch.setenv("SLUICE_NOTIFY_RUN_DIR", str(blocker / "run"))
    pagerduty.stop()
    open_incident(sqlite_engine)

    flush_notifications(sqlite_engine)

    assert not live_deliverers() and [r.status for r in rows(sqlite_engine)] == ["pending"]
    assert "set SLUICE_NOTIFY_RUN_DIR to a writable folder" in caplog.text


@pytest.mark.parametrize("value", ["abc", "-1", "nan"])
def test_a_bad_notify_setting_is_a_clear_error_naming_the_variable(monkeypatch, sqlite_engine, value: str) -> None:
    monkeypatch.setenv("SLUICE_NOTIFY_ATTEMPT_TIMEOUT", value)

    with pytest.raises(
        ConfigError, match=r"SLUICE_NOTIFY_ATTEMPT_TIMEOUT='.*' is not valid.*float \(> 0, ≤ 5\)"
    ) as caught:
        deliver_soon(sqlite_engine)
    assert "fix or unset SLUICE_NOTIFY_ATTEMPT_TIMEOUT" in (caught.value.hint or "")
