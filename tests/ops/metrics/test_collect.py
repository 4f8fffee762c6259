from __future__ import annotations

from datetime import timedelta

import pytest

from ops.metrics import collect as metrics
from ops.metrics.collect import collect_pipeline_metrics
from ops.metrics.models import Selector
from sluice.runs.metastore import engine_for, save_run
from tests.ops.factories import run_report
from tests.ops.metrics.factories import T0, seconds, store_at

NOW = T0 + timedelta(hours=3)


@pytest.fixture
def metastore(tmp_path):
    return engine_for(f"sqlite:///{tmp_path / 'sluice.db'}")


def _save(engine, *reports) -> None:
    with engine.begin() as conn:
        for report in reports:
            save_run(conn, report)


def _collect(engine, store, **options) -> int:
    with engine.connect() as conn:
        return collect_pipeline_metrics(conn, store, now=NOW, **options)


def _latest(store, metric: str, dataset: str = "orders") -> float:
    [series] = store.query_range(Selector.parse(f'{metric}{{dataset="{dataset}"}}'), T0 - timedelta(days=1), NOW)
    return float(series.values[-1])


def test_one_sample_per_run_metric_at_the_finish_time(metastore, tmp_path):
    store = store_at(tmp_path)
    report = run_report("r1", rows_read=100, rows_written=80, rows_quarantined=15, rows_duplicate=5)
    report.watermark = T0 - timedelta(hours=1)
    _save(metastore, report)

    written = _collect(metastore, store)

    # Nine run metrics, three of orders' references, the freshness and its ratio to the orders contract's SLA.
    assert written == 14
    values = {m: _latest(store, m) for m in metrics.PIPELINE_METRICS}
    assert values == {
        metrics.ROWS_READ: 100,
        metrics.ROWS_WRITTEN: 80,
        metrics.ROWS_QUARANTINED: 15,
        metrics.ROWS_DUPLICATE: 5,
        metrics.QUARANTINE_RATE: 0.15,
        metrics.RUN_DURATION: 42,
        metrics.RUN_FAILED: 0,
        metrics.THROUGHPUT: pytest.approx(100 / 42),
        metrics.FRESHNESS: 4 * 3600,
        metrics.FRESHNESS_SLA_RATIO: pytest.approx(4 / 6),  # orders.yaml: freshness_sla 6h
    }
    assert _latest(store, metrics.SOURCE_LAG) == 3600 + 42  # the watermark an hour before the start
    assert {m: _latest(store, m) for m in metrics.REFERENCE_METRICS} == {
        metrics.ROWS_ORPHANED: 0,
        metrics.ORPHAN_RATE: 0,
        metrics.ROWS_HELD: 0,
    }
    [info] = store.series(Selector.parse("sluice_rows_read"))
    assert info.labels == {"dataset": "orders", "flow": "ingest-files", "environment": "dev"}
    assert info.last == T0 + seconds(42)


def test_collecting_again_writes_nothing_new(metastore, tmp_path):
    store = store_at(tmp_path)
    _save(metastore, run_report("r1"), run_report("r2", started_at=T0 + timedelta(hours=1)))
    first = _collect(metastore, store)

    again = _collect(metastore, store)

    assert first == 2 * 11 and again == 0  # eight run metrics and orders' three reference metrics; no freshness
    assert {i.points for i in store.series(Selector())} == {2}


def test_new_runs_are_added_to_what_was_collected(metastore, tmp_path):
    store = store_at(tmp_path)
    _save(metastore, run_report("r1"))
    _collect(metastore, store)
    _save(metastore, run_report("r2", started_at=T0 + timedelta(hours=1)))

    assert _collect(metastore, store) == 11  # eight run metrics, three of orders' references
    assert store.series(Selector.parse("sluice_rows_read"))[0].points == 2


def test_failed_running_and_empty_runs(metastore, tmp_path):
    store = store_at(tmp_path)
    failed = run_report("failed", dataset="orders", rows_read=0, rows_written=0, rows_quarantined=0, rows_duplicate=0)
    failed.status = "failed"
    running = run_report("running", dataset="customers")
    running.finished_at, running.status = None, "running"
    _save(metastore, failed, running)

    _collect(metastore, store)

    assert _latest(store, metrics.RUN_FAILED) == 1.0
    assert store.series(Selector.parse(metrics.QUARANTINE_RATE)) == []  # no rows read, no rate
    assert store.series(Selector.parse('{dataset="customers"}')) == []  # still running


def test_since_keeps_only_runs_finished_since(metastore, tmp_path):
    store = store_at(tmp_path)
    _save(metastore, run_report("old"), run_report("new", started_at=T0 + timedelta(hours=2)))

    _collect(metastore, store, since=T0 + timedelta(hours=1))

    [info] = store.series(Selector.parse("sluice_rows_read"))
    assert info.points == 1 and info.first == T0 + timedelta(hours=2, seconds=42)


def test_freshness_uses_the_newest_watermark_of_each_dataset(metastore, tmp_path):
    store = store_at(tmp_path)
    older, newer, other = (
        run_report("a"),
        run_report("b", started_at=T0 + seconds(60)),
        run_report("c", dataset="customers"),
    )
    older.watermark, newer.watermark, other.watermark = NOW - timedelta(hours=5), NOW - timedelta(hours=2), None
    _save(metastore, older, newer, other)

    _collect(metastore, store)

    assert _latest(store, metrics.FRESHNESS) == 2 * 3600
    assert store.series(Selector.parse(f'{metrics.FRESHNESS}{{dataset="customers"}}')) == []


def test_orphans_and_held_rows_are_metrics_with_their_rate(metastore, tmp_path):
    store = store_at(tmp_path)
    report = run_report("r1", rows_read=200, rows_written=150, rows_quarantined=10, rows_duplicate=0)
    report.rows_orphaned, report.rows_held = 50, 40
    _save(metastore, report)

    _collect(metastore, store)

    assert _latest(store, metrics.ROWS_ORPHANED) == 50
    assert _latest(store, metrics.ROWS_HELD) == 40
    assert _latest(store, metrics.ORPHAN_RATE) == 0.25
