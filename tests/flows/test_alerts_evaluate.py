"""Metrics beside flow runs, and the alerts-evaluate flow on the real Prefect test server."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from ops.metrics.models import Selector
from ops.metrics.store import open_store
from tests.factories import mixed_orders, write_csv
from tests.flows.helpers import run_ingest
from tests.ops.factories import run_report, save_runs
from tests.pgcluster import pg_logical  # noqa: F401 - the session fixture

pytestmark = pytest.mark.integration


def test_an_ingest_run_samples_its_host_and_workers_into_the_store(
    prefect_api, dask_address, sluice_home, tmp_path, monkeypatch
):
    monkeypatch.setenv("SLUICE_METRICS_SAMPLE_SECONDS", "0.1")
    write_csv(tmp_path / "src" / "orders-1.csv", mixed_orders(20))
    before = datetime.now(timezone.utc)

    run_ingest(dask_address, "orders", str(tmp_path / "src"))

    store = open_store(home=sluice_home.home)
    after = datetime.now(timezone.utc)
    (cpu,) = store.query_range(Selector.parse('sluice_host_cpu_percent{dataset="orders"}'), before, after)
    assert cpu.labels["flow"] == "ingest-files" and len(cpu) >= 1
    workers = store.query_range(Selector.parse('sluice_process_rss_bytes{flow="ingest-files"}'), before, after)
    assert len(workers) >= 2  # the session cluster's two worker processes at least
    assert all(s.values.min() > 10_000_000 for s in workers)


def test_alerts_evaluate_collects_run_metrics_and_fires_on_failing_runs(prefect_api, sluice_home):
    from flows.alerts_evaluate import alerts_evaluate

    recent = datetime.now(timezone.utc) - timedelta(minutes=20)
    failed = [
        replace(run_report(f"run-{i}", started_at=recent + timedelta(minutes=5 * i)), status="failed") for i in range(3)
    ]
    save_runs(sluice_home, *failed)

    summary = alerts_evaluate()

    assert summary.samples_collected >= 3 * 6
    assert "run-failures" in summary.firing_rules
    events = [json.loads(line) for line in (sluice_home.home / "alerts" / "events.jsonl").read_text().splitlines()]
    fired = [e for e in events if e["rule_id"] == "run-failures"]
    assert [e["status"] for e in fired] == ["firing"] and fired[0]["runbook"] == "source-unreachable"
    again = alerts_evaluate()
    assert again.transitions == 0 and "run-failures" in again.firing_rules


def test_alerts_evaluate_samples_the_lag_of_the_cdc_servers_slots(prefect_api, sluice_home, pg_logical):
    from flows.alerts_evaluate import alerts_evaluate
    from tests.sluice.sources.cdc.conftest import ACCOUNTS, ACCOUNTS_DDL, make_source

    sources = make_source(pg_logical, ACCOUNTS_DDL, ACCOUNTS)
    source = next(sources)
    try:
        with source.connect() as conn:
            conn.execute("INSERT INTO accounts (id) SELECT generate_series(1, 100)")
        before = datetime.now(timezone.utc) - timedelta(seconds=1)

        alerts_evaluate(cdc_dsn=source.dsn)

        store = open_store(home=sluice_home.home)
        (lag,) = store.query_range(
            Selector.parse(f'sluice_cdc_slot_lag_bytes{{slot="{source.slot}"}}'), before, datetime.now(timezone.utc)
        )
        assert lag.labels["environment"] == sluice_home.env and float(lag.values[-1]) > 1_000
    finally:
        sources.close()


def test_alerts_evaluate_samples_the_lag_of_every_watched_stream(prefect_api, sluice_home, monkeypatch):
    import redis

    from flows.alerts_evaluate import alerts_evaluate
    from sluice.settings import get_settings
    from tests.sluice.sources.streams.conftest import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL)
    stream = f"sluice-test-lag-{uuid.uuid4().hex[:12]}"
    client.xgroup_create(stream, "sluice", id="0", mkstream=True)
    try:
        for i in range(40):
            client.xadd(stream, {"value": f'{{"id": {i}}}'.encode()})
        monkeypatch.setenv("SLUICE_REDIS_URL", REDIS_URL)
        # a stream without the group fails alone: the watched one is still sampled
        monkeypatch.setenv("SLUICE_STREAM_LAG_TARGETS", json.dumps([f"redis:{stream}-missing", f"redis:{stream}"]))
        get_settings(fresh=True)
        before = datetime.now(timezone.utc) - timedelta(seconds=1)

        summary = alerts_evaluate()

        store = open_store(home=sluice_home.home)
        found = store.query_range(
            Selector.parse(f'sluice_stream_lag_messages{{topic="{stream}"}}'), before, datetime.now(timezone.utc)
        )
        assert [(s.labels["broker"], float(s.values[-1])) for s in found] == [("redis", 40.0)]
        assert summary.samples_collected >= 1
    finally:
        client.delete(stream, f"{stream}-missing")
        client.close()
