"""An unreachable or throttling PagerDuty or Slack never holds an incident change, and nothing is lost.

Every incident command and the failure hook's incident opening return in under 2.5 s while
PagerDuty refuses connections, black-holes them or answers 429 with a
``Retry-After``; the background deliverer they start sends every page
exactly once when PagerDuty is back, without anyone flushing, and exits.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prefect import flow

from ops.incidents.db import open_engine, store_url
from sluice.errors import SourceNotFoundError
from tests.ops.factories import invoke
from tests.ops.factories import sluice_home as home_at
from tests.ops.notify.background import (
    OUTAGES,
    RETRY_AFTER,
    Outage,
    all_sent,
    eventually,
    live_deliverers,
)
from tests.standins.pagerduty_slack import FakeService, Reply, slack_ok

pytestmark = pytest.mark.serial

# Seconds an incident change may take, whatever the channels do: the bounded attempt (budget 0.5 s plus one
# request's 0.5 s timeout) and the command's own work, with room for a loaded machine. One retry of a caller
# that waited would add the 3 s backoff below and cross it.
BOUND = 2.5
COMMANDS = [
    (
        "open",
        (
            "incident",
            "open",
            "--title",
            "orders files missing_column after a schema change",
            "--severity",
            "SEV2",
            "--dataset",
            "orders",
            "--who",
            "ana",
            "-o",
            "json",
        ),
    ),
    ("ack", ("incident", "ack", "INC-1", "--who", "ana")),
    ("note", ("incident", "note", "INC-1", "paused the feed", "--who", "bo")),
    ("mitigate", ("incident", "mitigate", "INC-1", "--who", "bo", "--note", "feed paused")),
    ("resolve", ("incident", "resolve", "INC-1", "--yes", "--who", "bo")),
]


@pytest.fixture(autouse=True)
def _default_backoff(monkeypatch) -> None:
    """Seconds between retries as configured by default, so a caller that retried would be seen waiting."""
    monkeypatch.setenv("SLUICE_NOTIFY_BACKOFF_SECONDS", "3")
    monkeypatch.setenv("SLUICE_NOTIFY_BACKOFF_MAX_SECONDS", "30")


def timed_commands(commands: list[tuple[str, tuple[str, ...]]]) -> dict[str, float]:
    took = {}
    for name, args in commands:
        started = time.monotonic()
        result = invoke(*args)
        took[name] = time.monotonic() - started
        assert result.exit_code == 0, result.output
    return took


@pytest.mark.parametrize("outage", OUTAGES)
def test_incident_commands_return_at_once_and_each_page_goes_out_once_when_pagerduty_is_back(
    outage: str, monkeypatch, tmp_path: Path, pagerduty: FakeService, slack: FakeService, deliverers: Path
) -> None:
    engine = open_engine(store_url(home_at(monkeypatch, tmp_path).home))
    down = Outage(outage, pagerduty)

    took = timed_commands(COMMANDS)

    assert max(took.values()) < BOUND, took
    assert pagerduty.accepted() == [] and live_deliverers()
    down.end()
    eventually(lambda: all_sent(engine), "delivery of every notification")
    assert [(b["event_action"], b["dedup_key"]) for b in pagerduty.accepted()] == [
        (action, pagerduty.accepted()[0]["dedup_key"]) for action in ("trigger", "acknowledge", "resolve")
    ]
    assert len(slack.accepted()) == 5  # trigger, ack, note, mitigate, resolve: each once
    eventually(lambda: not live_deliverers(), "the deliverer exiting once the outbox is empty")


def test_a_throttled_first_slack_message_is_not_overtaken_and_all_go_out_in_order(
    monkeypatch, tmp_path: Path, slack: FakeService, deliverers: Path
) -> None:
    engine = open_engine(store_url(home_at(monkeypatch, tmp_path).home))
    slack.default = lambda _: Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": RETRY_AFTER})

    took = timed_commands(COMMANDS[:3])

    assert max(took.values()) < BOUND, took
    assert slack.accepted() == [] and {r.json["text"] for r in slack.requests} == {slack.requests[0].json["text"]}
    slack.default = slack_ok()
    eventually(lambda: all_sent(engine), "delivery of every notification")
    first, ack, note = slack.accepted()
    assert "thread_ts" not in first and first["text"].startswith("[SEV2] INC-1 triggered")
    assert ack["thread_ts"] == note["thread_ts"] == "1700000000.000001"
    assert "INC-1 acknowledged" in ack["text"] and "paused the feed" in note["text"]
    eventually(lambda: not live_deliverers(), "the deliverer exiting once the outbox is empty")


@flow(name="ingest-probe-unhooked")
def failing_probe(n: int) -> None:
    raise SourceNotFoundError(f"no files match *.csv under /drop/orders/{n}", hint="check the path")


@pytest.mark.integration
@pytest.mark.parametrize("outage", OUTAGES)
def test_the_failure_hook_returns_at_once_and_the_page_goes_out_once_when_pagerduty_is_back(
    outage: str, prefect_api: str, sluice_home, pagerduty: FakeService, slack: FakeService, deliverers: Path
) -> None:
    from prefect import get_client

    from flows.hooks import failure_trigger, open_failure_incident
    from ops.runbooks.catalog import load_runbooks

    state = failing_probe(1, return_state=True)
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    books = load_runbooks()
    trigger = failure_trigger(failing_probe, flow_run, state, books)
    engine = open_engine(store_url(sluice_home.home))
    down = Outage(outage, pagerduty)

    started = time.monotonic()
    opened = open_failure_incident(trigger, books)
    took = time.monotonic() - started

    assert took < BOUND and opened.created
    assert pagerduty.accepted() == []
    down.end()
    eventually(lambda: all_sent(engine), "delivery of the page")
    (page,) = pagerduty.accepted()
    assert len(slack.accepted()) == 1
    assert page["event_action"] == "trigger" and "ingest-probe-unhooked" in json.dumps(page)
    eventually(lambda: not live_deliverers(), "the deliverer exiting once the outbox is empty")
