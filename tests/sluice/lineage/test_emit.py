"""Sending events through each transport; a backend that is down or slow costs a run a bounded wait, no failure."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from pydantic import SecretStr

from sluice.lineage.emit import emit
from sluice.lineage.events import start_event
from sluice.settings import LineageSettings, LineageTransport
from tests.sluice.lineage.receiver import lineage_receiver
from tests.sluice.lineage.test_events import RUN_ID, datasets, orders


def a_start():  # type: ignore[no-untyped-def]
    return start_event(
        namespace="sluice",
        flow_name="ingest-files",
        run_id=RUN_ID,
        dataset="orders",
        datasets=datasets(),
        contract=orders(),
    )


def test_http_posts_the_event_to_the_lineage_endpoint_with_the_api_key() -> None:
    with lineage_receiver() as got:
        settings = LineageSettings(transport=LineageTransport.HTTP, url=got.url, api_key=SecretStr("k3y"))
        assert emit(settings, a_start) is True

    assert got.paths == ["/api/v1/lineage"]
    assert got.auth == ["Bearer k3y"]
    assert got.events[0]["eventType"] == "START" and got.events[0]["run"]["runId"] == RUN_ID


def test_a_backend_that_is_down_is_logged_and_costs_at_most_the_timeout(caplog) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = LineageSettings(transport=LineageTransport.HTTP, url=f"http://127.0.0.1:{port}", timeout_seconds=1)
    clock = time.monotonic()

    assert emit(settings, a_start) is False

    assert time.monotonic() - clock < 5
    assert "could not send an OpenLineage event" in caplog.text


def test_a_backend_that_answers_500_does_not_raise(caplog) -> None:
    with lineage_receiver(status=500) as got:
        settings = LineageSettings(transport=LineageTransport.HTTP, url=got.url, timeout_seconds=1)
        assert emit(settings, a_start) is False
    assert got.events  # it was reached, and refused the event


def test_a_backend_that_never_answers_costs_a_bounded_wait() -> None:
    with socket.socket() as server:  # accepts connections, never reads nor answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        settings = LineageSettings(transport=LineageTransport.HTTP, url=url, timeout_seconds=1)
        clock = time.monotonic()

        assert emit(settings, a_start) is False
        elapsed = time.monotonic() - clock

    assert elapsed < 4  # two attempts of one second, and the pause between them


def test_file_appends_one_json_event_per_line(tmp_path: Path) -> None:
    path = tmp_path / "lineage" / "events.jsonl"
    settings = LineageSettings(transport=LineageTransport.FILE, file=str(path))

    assert emit(settings, a_start) and emit(settings, a_start)

    lines = path.read_text().splitlines()
    assert [json.loads(line)["eventType"] for line in lines] == ["START", "START"]


def test_none_sends_nothing_and_builds_nothing() -> None:
    def build():  # type: ignore[no-untyped-def]
        raise AssertionError("built an event that is not sent")

    assert emit(LineageSettings(), build) is False


def test_an_http_transport_without_a_url_is_a_logged_config_error(caplog) -> None:
    assert emit(LineageSettings(transport=LineageTransport.HTTP), a_start) is False
    assert "SLUICE_LINEAGE_URL" in caplog.text
