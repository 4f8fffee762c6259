"""Run metrics are labelled with the flow that made the run, told by its source."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from ops.metrics.collect import collect_pipeline_metrics, run_flow
from ops.metrics.models import Selector
from sluice.runs.metastore import engine_for, save_run
from tests.ops.factories import run_report
from tests.ops.metrics.factories import T0, store_at

SOURCES = {
    "s3://drop/orders": "ingest-files",
    "/data/drop/orders": "ingest-files",
    "postgresql://app@db:5432/shop/public.orders": "ingest-table",
    "mariadb://root@db:3306/shop/orders": "ingest-table",
    "postgres-cdc:s_orders:public.orders": "capture-changes",
}


@pytest.mark.parametrize(("source", "flow"), SOURCES.items())
def test_the_flow_is_told_by_the_run_source(source: str, flow: str) -> None:
    assert run_flow(source) == flow


def test_capture_and_table_runs_are_not_labelled_as_file_ingestion(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'sluice.db'}")
    store = store_at(tmp_path)
    with engine.begin() as conn:
        for i, source in enumerate(SOURCES):
            report = replace(run_report(f"r{i}", started_at=T0 + timedelta(minutes=i)), source=source)
            report.watermark = T0
            save_run(conn, report)
    with engine.connect() as conn:
        collect_pipeline_metrics(conn, store, now=T0 + timedelta(hours=1))

    flows = {i.labels["flow"] for i in store.series(Selector.parse("sluice_rows_read"))}
    fresh = {i.labels["flow"] for i in store.series(Selector.parse("sluice_freshness_seconds"))}
    assert flows == fresh == {"ingest-files", "ingest-table", "capture-changes"}


def test_a_run_is_labelled_with_the_flow_it_recorded_and_an_older_run_by_its_source(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'sluice.db'}")
    store = store_at(tmp_path)
    recorded = replace(run_report("new", started_at=T0), source="", flow="ingest-table", dataset="a")
    older = replace(run_report("old", started_at=T0), source="postgres-cdc:s:public.b", dataset="b")
    with engine.begin() as conn:
        for report in (recorded, older):
            report.watermark = T0
            save_run(conn, report)
    with engine.connect() as conn:
        collect_pipeline_metrics(conn, store, now=T0 + timedelta(hours=1))

    for metric in ("sluice_rows_read", "sluice_freshness_seconds"):
        labels = {(i.labels["dataset"], i.labels["flow"]) for i in store.series(Selector.parse(metric))}
        assert labels == {("a", "ingest-table"), ("b", "capture-changes")}
