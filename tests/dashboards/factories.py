"""A realistic set of Sluice metrics, made by the code that makes them in production, and the exporter's view of it."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from uuid import uuid4

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ops.metrics.apis import ApiUse, api_samples
from ops.metrics.cdc_slots import slot_samples
from ops.metrics.collect import collect_pipeline_metrics
from ops.metrics.embedded import EmbeddedStore
from ops.metrics.models import Sample
from ops.metrics.prefect_runs import flow_run_samples
from ops.metrics.store_exporter import start_store_exporter
from ops.metrics.streams import consumer_samples, lag_samples, latency_samples, paused_samples, reason_samples
from sluice.runs.metastore import engine_for, save_run
from sluice.sources.cdc.slots import SlotInfo
from sluice.sources.streams.lag import PartitionLag, StreamTarget
from sluice.sources.streams.latency import BatchLatency
from tests.ops.factories import run_report

ENV = "test"


def _pipeline(store: EmbeddedStore, folder: Path, now: datetime) -> None:
    completed = run_report("run-ok", started_at=now - timedelta(minutes=30))
    completed.watermark = now - timedelta(hours=1)
    completed.env = ENV
    failed = run_report("run-failed", dataset="customers", started_at=now - timedelta(minutes=20))
    failed.status, failed.env = "failed", ENV
    with engine_for(f"sqlite:///{folder / 'sluice.db'}").begin() as conn:
        save_run(conn, completed)
        save_run(conn, failed)
        collect_pipeline_metrics(conn, store, now=now)


def _streams(now: datetime) -> list[Sample]:
    target = StreamTarget("kafka", "orders-events", "sluice")
    lag = [PartitionLag("kafka", "orders-events", str(p), "120", "100", 20) for p in range(2)]
    latency = BatchLatency(count=50, p50=0.4, p99=2.5, worst=3.0, committed_ms=int(now.timestamp() * 1000) - 60_000)
    return [
        *lag_samples(lag, now, environment=ENV),
        *latency_samples("kafka:orders-events", "orders", latency, environment=ENV),
        *consumer_samples(target, 2, now, environment=ENV),
        *paused_samples(target, ["0"], True, now, environment=ENV),
        *reason_samples("orders", {"not-null": 3, "type": 1}, now, environment=ENV),
    ]


def _cdc(now: datetime) -> list[Sample]:
    slot = SlotInfo("sluice_orders", "pgoutput", "shop", 4242, 1_000, 5_096, 4_096, 12.5)
    return slot_samples([slot], now, server="db.internal:5432", environment=ENV)


def _prefect(now: datetime) -> list[Sample]:
    flow_id, deployment_id = uuid4(), uuid4()

    def run(state: str, minutes: int) -> SimpleNamespace:
        return SimpleNamespace(
            id=uuid4(),
            flow_id=flow_id,
            deployment_id=deployment_id,
            end_time=now - timedelta(minutes=minutes),
            total_run_time=timedelta(seconds=30),
            state_type=SimpleNamespace(value=state),
        )

    flows = [run("COMPLETED", 10), run("FAILED", 5)]
    tasks = [
        SimpleNamespace(
            flow_run_id=flows[0].id,
            name="stage-file-group-1a2",
            end_time=now - timedelta(minutes=11),
            total_run_time=timedelta(seconds=20),
        )
    ]
    return flow_run_samples(flows, {flow_id: "ingest-files"}, {deployment_id: "ingest-orders"}, tasks, now, ENV)


def write_realistic_metrics(folder: Path, now: datetime) -> EmbeddedStore:
    """A store holding every kind of Sluice metric: runs, freshness, streams, change capture, APIs, Prefect runs."""
    store = EmbeddedStore(folder / "metrics")
    _pipeline(store, folder, now)
    api = api_samples(ApiUse("crm", 120, 3, 2, 4.5, 1, 0, 0.4), now, environment="prod")
    store.write(_streams(now) + _cdc(now) + _prefect(now) + api)
    return store


def exported_labels(store: EmbeddedStore) -> dict[str, set[str]]:
    """Metric name -> label names, as Prometheus would scrape them from the exporter serving ``store``."""
    with start_store_exporter(store, labels={"environment": ENV}, processes={"pytest": os.getpid()}) as exporter:
        text = httpx.get(exporter.url, timeout=10).text
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                found.setdefault(sample.name, set()).update(sample.labels)
    return found
