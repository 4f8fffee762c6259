"""Tasks of the ``alerts-evaluate`` flow: collect run metrics, evaluate the rules, publish the result."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ops.alerts.events import AlertEvent
from ops.alerts.rules import load_rules
from ops.alerts.service import Evaluation, run_check
from ops.baselines.service import open_registry
from ops.incidents.db import open_engine, store_url
from ops.metrics.cdc_slots import collect_slot_metrics
from ops.metrics.collect import collect_pipeline_metrics, collect_prefect_metrics
from ops.metrics.errors import BackendUnavailableError
from ops.metrics.store import open_store
from ops.metrics.streams import collect_watched_lag
from ops.respond.sink import IncidentSink
from ops.runbooks.links import runbook_link
from sluice.display import readable
from sluice.runs.metastore import engine_for
from sluice.settings import MetricsBackend, get_settings
from sluice.sources.cdc.errors import CdcError, CdcUnreachableError
from sluice.sources.streams.lag import StreamTarget
from tasks.artifacts import RunArtifacts


class PrefectLogSink:
    """Alert transitions as warnings in the flow run's log (and so in the Prefect UI)."""

    def emit(self, event: AlertEvent) -> None:
        get_run_logger().warning(
            "alert %s: %s [%s] %s{%s} value=%s, runbook %s",
            event.status.value.upper(),
            event.rule_id,
            event.severity,
            event.metric,
            event.labels_text,
            readable(event.value),
            event.runbook,
        )


@task(name="collect-run-metrics", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def collect_run_metrics(home: Path, metadata_url: str, now: datetime, lookback: timedelta) -> int:
    """Derive pipeline metrics from recent run records into the embedded store (Prometheus scrapes instead)."""
    settings = get_settings().metrics
    if settings.metrics_backend is MetricsBackend.PROMETHEUS:
        return 0
    store = open_store(settings, home=home)
    with engine_for(metadata_url).connect() as conn:
        written = collect_pipeline_metrics(conn, store, since=now - lookback, now=now)
    try:
        written += collect_prefect_metrics(store, since=now - lookback, now=now, environment=get_settings().env)
    except BackendUnavailableError as exc:
        get_run_logger().warning("flow and task run metrics not collected: %s", exc)
    return written


@task(name="collect-slot-lag", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def collect_slot_lag(home: Path, dsn: str, now: datetime) -> int:
    """Sample the lag of every change-capture slot of the server at ``dsn`` into the embedded store."""
    settings = get_settings()
    if settings.metrics.metrics_backend is MetricsBackend.PROMETHEUS:
        return 0
    try:
        return collect_slot_metrics(open_store(settings.metrics, home=home), dsn, now=now, environment=settings.env)
    except (CdcError, CdcUnreachableError) as exc:
        get_run_logger().warning("slot lag not collected: %s", exc)
        return 0


@task(name="collect-stream-lag", cache_policy=NO_CACHE)
def collect_stream_lag(home: Path, targets: list[str], now: datetime) -> int:
    """Sample the consumer lag of every watched stream (``SLUICE_STREAM_LAG_TARGETS``) into the embedded store.

    A stream that cannot be sampled is a warning on the run; the others are still sampled.
    """
    settings = get_settings()
    if settings.metrics.metrics_backend is MetricsBackend.PROMETHEUS or not targets:
        return 0
    store = open_store(settings.metrics, home=home)
    found = collect_watched_lag(
        store,
        [StreamTarget.parse(t) for t in targets],
        settings.streams.address,
        now=now,
        environment=settings.env,
        kafka_options=settings.streams.kafka_client_options(),
    )
    for line in found.failed:
        get_run_logger().warning("stream lag not collected: %s", line)
    return found.written


@task(name="evaluate-alert-rules", cache_policy=NO_CACHE)
def evaluate_alert_rules(home: Path, rules_path: str | None, now: datetime) -> Evaluation:
    rules = load_rules(Path(rules_path) if rules_path else None)
    incidents = IncidentSink(open_engine(store_url(home)), get_settings().env)
    return run_check(rules, open_store(home=home), open_registry(home), home, now, [PrefectLogSink(), incidents])


def alerts_markdown(evaluation: Evaluation) -> str:
    """What fires, for the flow run's artifact: values to three significant digits, runbooks as links."""
    firing = [r for r in evaluation.results if r.status == "firing"]
    lines = [
        f"# Alerts at {evaluation.at:%Y-%m-%d %H:%M:%S} UTC",
        "",
        f"{len(evaluation.results):,} series evaluated, **{len(firing):,} firing**, "
        f"{len(evaluation.events):,} transitions.",
        "",
    ]
    if firing:
        lines += ["| Severity | Rule | Series | Value | Band | Since | Runbook |", "|---|---|---|---:|---:|---|---|"]
        for r in sorted(firing, key=lambda r: r.severity):
            labels = ", ".join(f"{k}={v}" for k, v in sorted(r.labels.items()))
            band = f"{readable(r.lower)} to {readable(r.upper)}" if r.lower is not None or r.upper is not None else "-"
            since = f"{r.since:%Y-%m-%d %H:%M:%S} UTC" if r.since else "-"
            lines.append(
                f"| {r.severity} | {r.rule_id} | {r.metric} {{{labels}}} | {readable(r.value)} | {band} | "
                f"{since} | {runbook_link(r.runbook)} |"
            )
    if evaluation.unmatched_rules:
        lines += ["", f"No data yet for: {', '.join(evaluation.unmatched_rules)}."]
    return "\n".join(lines)


@task(name="publish-alerts", cache_policy=NO_CACHE)
def publish_alerts(evaluation: Evaluation, artifacts: RunArtifacts) -> None:
    """The alerts on the flow run, as ``<scope>-alerts``."""
    firing = sum(r.status == "firing" for r in evaluation.results)
    artifacts.markdown(
        alerts_markdown(evaluation),
        key=artifacts.key("alerts"),
        description=f"Alert rules evaluated by alerts-evaluate: {firing:,} firing",
    )
