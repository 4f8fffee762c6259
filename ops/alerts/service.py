"""Evaluating alert rules against the metrics store, and keeping the alerts' state between evaluations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ops.alerts.events import (
    AlertEvent,
    AlertSink,
    AlertStatus,
    JsonLinesSink,
    dedup_key,
)
from ops.alerts.hysteresis import latch, trigger_share
from ops.alerts.rules import Rule, RuleSet
from ops.alerts.signals import Signal, dynamic_signals, static_signals
from ops.alerts.state import ActiveAlert, AlertState
from ops.baselines.model import Baseline
from ops.baselines.registry import BaselineRegistry
from ops.metrics.models import from_ns, to_ns
from ops.metrics.store import MetricsStore


@dataclass(frozen=True)
class AlertResult:
    """One rule on one series at the evaluation instant."""

    rule_id: str
    severity: str
    runbook: str
    metric: str
    labels: dict[str, str]
    status: str  # firing | ok | insufficient
    source: str  # static | baseline | detector | insufficient
    value: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    share: float
    points: int
    since: datetime | None
    dedup_key: str


@dataclass(frozen=True)
class Evaluation:
    at: datetime
    results: list[AlertResult]
    events: list[AlertEvent]
    firing: dict[str, ActiveAlert]
    unmatched_rules: list[str] = field(default_factory=list)
    rebaselined: list[Baseline] = field(default_factory=list)


def alerts_dir(home: Path) -> Path:
    return home / "alerts"


def _last(values: np.ndarray) -> float | None:
    finite = np.flatnonzero(np.isfinite(values))
    return float(values[finite[-1]]) if len(finite) else None


def _onset(states: np.ndarray, signal: Signal, rule: Rule, at: datetime) -> datetime:
    """When the trouble behind the current firing began: the first anomalous point in the trigger window
    that ends where the last stretch of firing states starts (a point, or the instant ``at`` when the
    window ending there is the first to fire)."""
    off = np.flatnonzero(~states[:-1])
    start = off[-1] + 1 if len(off) else 0
    fired = signal.seconds[start] if start < len(signal.seconds) else to_ns(at) / 1e9
    lo = int(np.searchsorted(signal.seconds, fired - rule.trigger.window.total_seconds(), side="right"))
    bad = np.flatnonzero(signal.anomalous[lo : start + 1])
    if not len(bad):
        return at if start >= len(signal.seconds) else from_ns(round(fired * 1e9))
    return from_ns(round(signal.seconds[lo + int(bad[0])] * 1e9))


def judge(
    rule: Rule, signal: Signal, at: datetime, previous: ActiveAlert | None
) -> tuple[AlertResult, AlertEvent | None, ActiveAlert | None]:
    """The result, the transition (if any) and the new active alert (if firing) for one series."""
    key = dedup_key(rule.id, signal.metric, signal.labels)
    at_s = to_ns(at) / 1e9
    share, points = trigger_share(signal.seconds, signal.anomalous, rule, at_s)
    if signal.source == "insufficient":
        firing, since = previous is not None, previous.since if previous else None
    else:
        states = latch(signal.seconds, signal.anomalous, rule, at_s)
        firing = bool(states[-1])
        since = (previous.since if previous else _onset(states, signal, rule, at)) if firing else None
    value, expected = _last(signal.values), _last(signal.expected)
    result = AlertResult(
        rule.id,
        rule.severity.value,
        rule.runbook,
        signal.metric,
        signal.labels,
        "firing" if firing else ("insufficient" if signal.source == "insufficient" else "ok"),
        signal.source,
        value,
        expected,
        _last(signal.lower),
        _last(signal.upper),
        share,
        points,
        since,
        key,
    )
    event = None
    if firing != (previous is not None):
        status = AlertStatus.FIRING if firing else AlertStatus.RESOLVED
        started = since if firing else (previous.since if previous else None)
        event = AlertEvent(
            key,
            status,
            rule.id,
            rule.summary,
            rule.severity.value,
            rule.runbook,
            signal.metric,
            signal.labels,
            value,
            expected,
            result.lower,
            result.upper,
            started or at,
            at,
        )
    active = (
        ActiveAlert(
            key,
            rule.id,
            rule.summary,
            rule.severity.value,
            rule.runbook,
            signal.metric,
            signal.labels,
            since or at,
            value,
            expected,
            at,
        )
        if firing
        else None
    )
    return result, event, active


def signals_for(rule: Rule, store: MetricsStore, registry: BaselineRegistry, at: datetime) -> list[Signal]:
    selector = rule.parsed_selector
    dynamic = rule.threshold.dynamic
    if dynamic is None:
        return static_signals(rule, store.query_range(selector, at - rule.lookback, at))
    history = rule.lookback if dynamic.source == "baseline" else max(dynamic.history, rule.lookback)
    baselines = registry.current(selector) if dynamic.source != "detector" else []
    return dynamic_signals(rule, store.query_range(selector, at - history, at), baselines)


def evaluate_rules(
    rules: RuleSet, store: MetricsStore, registry: BaselineRegistry, at: datetime, firing: dict[str, ActiveAlert]
) -> Evaluation:
    """Evaluate every rule at ``at``; ``firing`` is the state left by the previous evaluation."""
    results: list[AlertResult] = []
    events: list[AlertEvent] = []
    unmatched: list[str] = []
    shifted: list[Baseline] = []
    now_firing = {k: v for k, v in firing.items() if k.split(":")[0] not in {r.id for r in rules.rules}}
    for rule in rules.rules:
        signals = signals_for(rule, store, registry, at)
        if not signals:
            unmatched.append(rule.id)
        seen = set()
        for signal in signals:
            key = dedup_key(rule.id, signal.metric, signal.labels)
            seen.add(key)
            result, event, active = judge(rule, signal, at, firing.get(key))
            results.append(result)
            events.extend([event] if event else [])
            if active:
                now_firing[key] = active
            if signal.shifted is not None:
                shifted.append(signal.shifted)
        for key, alert in firing.items():  # firing alerts whose series sent nothing: kept, not resolved blindly
            if alert.rule_id == rule.id and key not in seen:
                now_firing[key] = alert
    return Evaluation(at, results, events, now_firing, unmatched, shifted)


def run_check(
    rules: RuleSet,
    store: MetricsStore,
    registry: BaselineRegistry,
    home: Path,
    at: datetime,
    sinks: Sequence[AlertSink] = (),
    *,
    dry_run: bool = False,
) -> Evaluation:
    """Evaluate, then (unless ``dry_run``) save the state and send each transition to every sink."""
    state = AlertState(alerts_dir(home) / "state.json")
    evaluation = evaluate_rules(rules, store, registry, at, state.load())
    if dry_run:
        return evaluation
    state.save(evaluation.firing)
    registry.save(evaluation.rebaselined)
    for sink in [JsonLinesSink(alerts_dir(home) / "events.jsonl"), *sinks]:
        for event in evaluation.events:
            sink.emit(event)
    return evaluation
