"""The alert rules, evaluated against the drill's own stack the way the ``alerts-evaluate`` flow does it.

The drill's runs keep their run records in the drill's metadata store
(``<drill>/sluice.db``). :func:`evaluate` collects their pipeline metrics into
the drill's embedded metric store (``<drill>/metrics``), evaluates the rules
with the alert state and baselines under the drill's folder, and sends every
transition to the environment's incident store through an
:class:`~ops.respond.sink.IncidentSink` flagged with the drill: a firing
alert opens a drill incident (source ``chaos-drill``), which never pages
unless ``SLUICE_CHAOS_PAGE=true``.

Dynamic rules (``duplicate-surge``, ``quarantine-rate-spike``) judge a run
against the series' history, and the detector gives no band before about
sixteen points. A staging stack that ingests every hour has that history; a
drill's fresh stack has none. :func:`seed_history` writes the run metrics of
clean hourly runs before the drill (the sample generator's shares of bad and
duplicate rows) into the drill's store. Timings (duration, throughput, source
lag) are left out: they depend on the host, and made-up ones would ring
``throughput-drop`` for no reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ops.alerts.rules import Duration, RuleSet, load_rules
from ops.alerts.service import Evaluation, run_check
from ops.errors import ChaosError, RuleFileError
from ops.metrics.collect import (
    RUN_DURATION,
    SOURCE_LAG,
    THROUGHPUT,
    new_samples,
    run_samples,
)
from ops.metrics.models import Sample
from ops.metrics.store import MetricsStore, open_store
from sluice.runs.records import RunReport
from sluice.settings import MetricsBackend, get_settings

if TYPE_CHECKING:
    from chaos.drill import Drill
    from chaos.stack import DrillStack

BAD_SHARE, DUPLICATE_SHARE = 0.03, 0.02  # demo.samples.generate_orders' defaults, which every delivery uses
MIN_RUNS = 24  # the detector needs ~16 points before it has a band; a day of hourly runs leaves a margin
HOST_METRICS = frozenset({RUN_DURATION, THROUGHPUT, SOURCE_LAG})


class CleanHistory(BaseModel):
    """Clean runs before the drill: ``runs`` of them, one every ``every``, the last one ``every`` before now."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runs: int = Field(48, ge=MIN_RUNS, le=5_000)
    every: Duration = timedelta(hours=1)
    rows: int = Field(600, gt=0)
    bad_share: float = Field(BAD_SHARE, ge=0, lt=1)
    duplicate_share: float = Field(DUPLICATE_SHARE, ge=0, lt=1)
    seed: int = 0

    @field_validator("every")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("runs must be some time apart, e.g. 1h")
        return value


def _problems(exc: ValidationError, whole: str) -> str:
    """Each bad argument with what is wrong with it (``whole`` where no single argument is at fault)."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or whole}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
    )


def ensure_history(**arguments: Any) -> CleanHistory:
    """The history the arguments describe, or ``ChaosError`` naming each bad argument."""
    try:
        return CleanHistory.model_validate(arguments)
    except ValidationError as exc:
        raise ChaosError(
            f"invalid clean history: {_problems(exc, 'history')}",
            hint=f"e.g. runs: 48 (at least {MIN_RUNS}), every: 1h, rows: 600",
        ) from None


def ensure_rules(ids: list[str] | None = None) -> RuleSet:
    """Sluice's default alert rules, or those named by ``ids``; ``ChaosError`` for an unknown or empty choice."""
    rules = load_rules()
    if ids is None:
        return rules
    if not ids:
        raise ChaosError("no alert rule named", hint="name the rules the fault should ring, or leave rules out")
    try:
        return RuleSet(rules=[rules.get(i) for i in dict.fromkeys(ids)])
    except RuleFileError as exc:
        raise ChaosError(str(exc.args[0]), hint=exc.hint) from None


class AlertExpectation(BaseModel):
    """What a drill expects of an alert rule: it fires, opening an incident that links ``runbook``, in time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str
    runbook: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    within_seconds: float = Field(120.0, gt=0)
    required: bool = True

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        try:
            load_rules().get(value)
        except RuleFileError as exc:
            raise ValueError(f"{exc.args[0]} ({exc.hint})") from None
        return value


def ensure_expectation(**arguments: Any) -> AlertExpectation:
    """The expectation the arguments describe, or ``ChaosError`` naming each bad argument."""
    try:
        return AlertExpectation.model_validate(arguments)
    except ValidationError as exc:
        raise ChaosError(
            f"invalid alert expectation: {_problems(exc, 'expectation')}",
            hint="e.g. rule: quarantine-rate-high, runbook: quarantine-rate-spike, within_seconds: 120",
        ) from None


def drill_store(stack: DrillStack) -> MetricsStore:
    """The drill's own embedded metric store, ``<drill>/metrics`` (whatever backend the environment uses)."""
    settings = get_settings().metrics.model_copy(update={"metrics_backend": MetricsBackend.EMBEDDED})
    return open_store(settings, home=stack.root)


def clean_runs(spec: CleanHistory, dataset: str, environment: str, end: datetime) -> list[RunReport]:
    """Run records of ``spec``'s clean runs, oldest first, the last one ``spec.every`` before ``end``."""
    rng = np.random.default_rng(spec.seed)
    reports = []
    for k in range(spec.runs, 0, -1):
        finished = end - k * spec.every
        read = max(1, round(rng.normal(spec.rows, spec.rows * 0.1)))
        bad = int(rng.binomial(read, spec.bad_share))
        duplicate = int(rng.binomial(read - bad, spec.duplicate_share))
        reports.append(
            RunReport(
                run_id=f"history-{k:04d}",
                dataset=dataset,
                source="clean history",
                env=environment,
                started_at=finished,
                finished_at=finished,
                status="completed",
                rows_read=read,
                rows_written=read - bad - duplicate,
                rows_quarantined=bad,
                rows_duplicate=duplicate,
            )
        )
    return reports


def history_samples(reports: list[RunReport]) -> list[Sample]:
    """The run metrics of ``reports`` (as metric collection derives them), without the host's timings."""
    return [s for report in reports for s in run_samples(report) if s.metric not in HOST_METRICS]


def seed_history(stack: DrillStack, spec: CleanHistory, *, now: datetime | None = None) -> int:
    """Write the metrics of ``spec``'s clean runs into the drill's store; returns the samples written."""
    store = drill_store(stack)
    reports = clean_runs(spec, stack.dataset, get_settings().env, now or datetime.now(timezone.utc))
    return store.write(new_samples(store, history_samples(reports)))


@dataclass(frozen=True)
class AlertRound:
    """One evaluation of the rules on the drill's stack."""

    collected: int
    evaluation: Evaluation

    @property
    def firing(self) -> list[str]:
        return sorted({r.rule_id for r in self.evaluation.results if r.status == "firing"})

    def to_output(self) -> dict[str, Any]:
        results = self.evaluation.results
        seen = "; ".join(
            f"{r.rule_id} {r.status} ({r.metric} = {r.value:.4g})" if r.value is not None else f"{r.rule_id} {r.status}"
            for r in results
        )
        detail = (
            f"{seen or 'no series to evaluate'}; {len(self.evaluation.events)} transition(s); "
            f"{self.collected} sample(s) collected"
        )
        return {
            "detail": detail,
            "firing": self.firing,
            "transitions": len(self.evaluation.events),
            "collected": self.collected,
        }


def evaluate(drill: Drill, rules: RuleSet, *, now: datetime | None = None) -> AlertRound:
    """Collect the drill's run metrics, evaluate ``rules`` on them, and open drill incidents for what fires."""
    from ops.baselines.service import open_registry
    from ops.incidents.db import open_engine, store_url
    from ops.metrics.collect import collect_pipeline_metrics
    from ops.respond.sink import DrillFlag, IncidentSink
    from sluice.runs.metastore import engine_for

    stack, at, settings = drill.stack, now or datetime.now(timezone.utc), get_settings()
    store = drill_store(stack)
    records = engine_for(stack.metadata_url)
    try:
        with records.connect() as conn:
            collected = collect_pipeline_metrics(conn, store, now=at)
    finally:
        records.dispose()
    sink = IncidentSink(open_engine(store_url(settings.home)), settings.env, DrillFlag(drill.id))
    return AlertRound(collected, run_check(rules, store, open_registry(stack.root), stack.root, at, [sink]))


def evaluate_host(drill: Drill, rules: RuleSet, store: MetricsStore, *, now: datetime | None = None) -> AlertRound:
    """Evaluate host rules on ``store`` (the host samples the drill takes); what fires opens a drill incident."""
    from ops.baselines.service import open_registry
    from ops.incidents.db import open_engine, store_url
    from ops.respond.sink import DrillFlag, IncidentSink

    at, settings = now or datetime.now(timezone.utc), get_settings()
    sink = IncidentSink(open_engine(store_url(settings.home)), settings.env, DrillFlag(drill.id))
    root = drill.stack.root
    return AlertRound(0, run_check(rules, store, open_registry(root), root, at, [sink]))


def scaled_rule(rule_id: str, *, threshold: float, window: str) -> RuleSet:
    """Sluice's rule ``rule_id`` at a drill's scale: its static threshold and both windows replaced.

    A drill lasts a minute, not the fifteen the slot-lag rules wait for, and
    its database holds megabytes, not the gigabyte they ring at. The rule keeps
    its id, selector, direction, trigger and recovery fractions, severity and
    runbook: what rings is the same rule, only sooner.

    Raises:
        ChaosError: no such rule, a rule without a static threshold, or a bad threshold or window.
    """
    rule = ensure_rules([rule_id]).rules[0]
    if rule.threshold.static is None:
        raise ChaosError(f"alert rule {rule_id} has a dynamic threshold", hint="scale only rules with a static one")
    try:
        scaled = rule.model_validate(
            {
                **rule.model_dump(),
                "threshold": {"static": threshold},
                "trigger": {**rule.trigger.model_dump(), "window": window},
                "recovery": {**rule.recovery.model_dump(), "window": window},
            }
        )
    except ValidationError as exc:
        raise ChaosError(f"cannot scale alert rule {rule_id}: {_problems(exc, 'rule')}") from None
    return RuleSet(rules=[scaled])


def sample_slot_lag(stack: DrillStack, dsn: str, *, now: datetime | None = None) -> int:
    """Sample the lag of every replication slot at ``dsn`` into the drill's store, as ``alerts-evaluate`` does."""
    from ops.metrics.cdc_slots import collect_slot_metrics

    return collect_slot_metrics(drill_store(stack), dsn, now=now, environment=get_settings().env)
