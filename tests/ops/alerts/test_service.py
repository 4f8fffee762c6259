"""Rule evaluation against a real embedded store: static and dynamic thresholds, transitions, state, sinks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np

from ops.alerts.events import AlertEvent, AlertStatus, JsonLinesSink, dedup_key
from ops.alerts.rules import RuleSet
from ops.alerts.service import run_check
from ops.baselines.fit import fit_series
from ops.baselines.registry import BaselineRegistry
from ops.metrics.embedded import EmbeddedStore
from ops.metrics.models import from_ns
from tests.ops.alerts.factories import rule, series
from tests.ops.baselines.fleet import daily_series, spiked


class ListSink:
    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    def emit(self, event: AlertEvent) -> None:
        self.events.append(event)


def setting(tmp_path: Path) -> tuple[EmbeddedStore, BaselineRegistry]:
    return EmbeddedStore(tmp_path / "metrics"), BaselineRegistry(tmp_path / "baselines")


def test_static_rule_fires_once_then_resolves_with_the_same_dedup_key(tmp_path: Path) -> None:
    store, registry = setting(tmp_path)
    values = np.r_[np.full(12, 5.0), np.full(6, 50.0), np.full(12, 5.0)]
    store.write_series([series(values)])
    rules, sink = RuleSet(rules=[rule()]), ListSink()
    stamps = series(values).timestamps
    for i in range(len(values)):
        run_check(rules, store, registry, tmp_path, from_ns(int(stamps[i])), [sink])
    assert [e.status for e in sink.events] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
    fired, resolved = sink.events
    assert fired.dedup_key == resolved.dedup_key == dedup_key("test-rule", "m", {"dataset": "orders"})
    assert fired.at == from_ns(int(stamps[13])) and fired.started_at == from_ns(int(stamps[12]))
    assert resolved.started_at == fired.started_at and fired.runbook == "row-count-anomaly"
    assert [e.status for e in JsonLinesSink(tmp_path / "alerts" / "events.jsonl").read()] == [
        AlertStatus.FIRING,
        AlertStatus.RESOLVED,
    ]


def test_an_alert_first_firing_between_points_dates_its_trouble_from_the_first_anomalous_point(
    tmp_path: Path,
) -> None:
    store, registry = setting(tmp_path)
    values = np.r_[np.full(12, 5.0), 50.0]  # at the last point one of three in the window is anomalous
    store.write_series([series(values)])
    sink = ListSink()
    last = from_ns(int(series(values).timestamps[-1]))

    run_check(RuleSet(rules=[rule()]), store, registry, tmp_path, last, [sink])
    run_check(RuleSet(rules=[rule()]), store, registry, tmp_path, last + timedelta(minutes=6), [sink])

    (fired,) = sink.events  # six minutes on, one of two: it fires at that instant, not at a point
    assert fired.at == last + timedelta(minutes=6) and fired.started_at == last


def test_repeated_checks_while_firing_emit_nothing_new(tmp_path: Path) -> None:
    store, registry = setting(tmp_path)
    store.write_series([series(np.full(12, 50.0))])
    rules, sink = RuleSet(rules=[rule()]), ListSink()
    end = from_ns(int(series(np.full(12, 50.0)).timestamps[-1]))
    for minutes in (0, 5, 10):
        evaluation = run_check(rules, store, registry, tmp_path, end + timedelta(minutes=minutes), [sink])
    assert len(sink.events) == 1
    assert [r.status for r in evaluation.results] == ["firing"]
    assert list(evaluation.firing) == [sink.events[0].dedup_key]


def test_dynamic_rule_uses_the_fitted_baseline_and_ignores_the_daily_peak(tmp_path: Path) -> None:
    store, registry = setting(tmp_path)
    history = daily_series()
    registry.save([fit_series(history)])
    tomorrow = spiked(daily_series(days=1, seed=5, offset_days=14), np.arange(100, 110), 80.0)
    store.write_series([tomorrow])
    dynamic = rule(selector="sluice_rows_read", threshold={"dynamic": {"z": 5, "source": "baseline"}})
    sink = ListSink()
    peak = from_ns(int(tomorrow.timestamps[170]))  # 14:10, the top of the daily wave
    assert run_check(RuleSet(rules=[dynamic]), store, registry, tmp_path, peak, [sink]).results[0].status == "ok"
    during = from_ns(int(tomorrow.timestamps[105]))
    evaluation = run_check(RuleSet(rules=[dynamic]), store, registry, tmp_path, during, [sink])
    (result,) = evaluation.results
    assert result.source == "baseline" and result.status == "firing"
    assert result.lower is not None and result.upper is not None and result.value > result.upper


def test_dynamic_rule_without_a_baseline_falls_back_on_the_detector(tmp_path: Path) -> None:
    store, registry = setting(tmp_path)
    values = 100 + np.random.default_rng(1).normal(0, 2, 300)
    values[-4:] = 300.0
    store.write_series([series(values), series([1.0, 2.0, 3.0], dataset="young")])
    evaluation = run_check(
        RuleSet(rules=[rule(threshold={"dynamic": {"z": 4}})]),
        store,
        registry,
        tmp_path,
        from_ns(int(series(values).timestamps[-1])),
    )
    by_dataset = {r.labels["dataset"]: r for r in evaluation.results}
    assert by_dataset["orders"].source == "detector" and by_dataset["orders"].status == "firing"
    assert by_dataset["young"].status == "insufficient"


def test_a_dry_run_saves_and_sends_nothing(tmp_path: Path) -> None:
    store, registry = setting(tmp_path)
    store.write_series([series(np.full(12, 50.0))])
    sink = ListSink()
    end = from_ns(int(series(np.full(12, 50.0)).timestamps[-1]))
    evaluation = run_check(RuleSet(rules=[rule()]), store, registry, tmp_path, end, [sink], dry_run=True)
    assert len(evaluation.events) == 1 and sink.events == []
    assert not (tmp_path / "alerts" / "state.json").exists()
