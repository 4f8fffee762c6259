"""The ``ingest-stream`` flow under a completeness policy: a consumer that loses entries, caught by the stream's ids.

The loss is injected where the flow builds its source (``tasks.streams.make_source``): the real Redis consumer,
wrapped by one that drops entries between the broker and the sink.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

import tasks.streams
from flows.ingest_stream import ingest_stream
from sluice.errors import CompletenessError
from sluice.runs.metastore import engine_for, get_run, list_runs
from sluice.settings import get_settings
from tests.ops.factories import invoke
from tests.sluice.sources.streams.brokers import lake_ids, produce_redis
from tests.sluice.sources.streams.conftest import EVENTS, REDIS_URL, event, redis_stream  # noqa: F401
from tests.sluice.sources.streams.test_totals import Lossy

pytestmark = pytest.mark.integration


@pytest.fixture
def policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sluice_home):
    """Write the events contract under the given completeness policy."""
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))

    def write(completeness: str) -> None:
        (contracts / "events.yaml").write_text(EVENTS + f"completeness: {completeness}\n", encoding="utf-8")
        get_settings(fresh=True)

    return write


def _lossy(monkeypatch: pytest.MonkeyPatch) -> None:
    build = tasks.streams.make_source
    monkeypatch.setattr(tasks.streams, "make_source", lambda req, sink, index=0: Lossy(build(req, sink, index)))


def _ingest(stream: str):
    args = {"broker": "redis", "topic": stream, "address": REDIS_URL, "idle_seconds": 1.0, "max_records": 20}
    return ingest_stream("events", **args)


def test_a_lost_entry_fails_the_run_under_strict_before_its_batch_lands_and_a_rerun_lands_all(
    prefect_api, policy, monkeypatch, redis_stream: tuple[redis.Redis, str]
) -> None:
    client, stream = redis_stream
    produce_redis(client, stream, [event(i) for i in range(50)])
    policy("strict")
    home = Path(get_settings().lake_root()).parent

    with monkeypatch.context() as patched:
        _lossy(patched)
        with pytest.raises(CompletenessError, match=r"the source says 20 rows, 18 were read"):
            _ingest(stream)

    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        [failed] = list_runs(conn, dataset="events", limit=1)
        recorded = get_run(conn, failed.run_id)
    assert recorded is not None and recorded.status == "failed" and lake_ids(home) == []
    assert [(c.source_rows, c.read_rows) for c in recorded.control_totals] == [(20, 18)]
    shown = invoke("runs", "show", failed.run_id)
    assert shown.exit_code == 0 and "20 rows" in shown.stdout and "18 rows" in shown.stdout

    whole = _ingest(stream)  # its own pending entries first: nothing is skipped
    assert (whole.status, whole.rows_written) == ("completed", 50)
    assert sorted(lake_ids(home)) == list(range(50))
    assert all(c.agrees for c in whole.control_totals) and sum(c.source_rows or 0 for c in whole.control_totals) == 50


def test_the_same_loss_lands_under_warn_with_a_warning(
    prefect_api, policy, monkeypatch, redis_stream: tuple[redis.Redis, str]
) -> None:
    client, stream = redis_stream
    produce_redis(client, stream, [event(i) for i in range(50)])
    policy("warn")
    _lossy(monkeypatch)

    report = _ingest(stream)

    assert (report.status, report.rows_read, report.rows_written) == ("completed", 43, 43)
    assert report.warnings["completeness:mismatch"] == 3
    assert sum(c.source_rows or 0 for c in report.control_totals) == 50
