"""Flow ``alerts-evaluate``: collect run metrics, evaluate the alert rules, publish what fires.

Deployed from ``prefect.yaml`` to run every five minutes. Before the rules
are evaluated it samples the consumer lag of every watched stream
(``SLUICE_STREAM_LAG_TARGETS``, or the ``streams`` parameter), so the
``stream-lag`` rule sees a backlog on this schedule even while no consumer
runs. Transitions (an
alert firing or resolving) are logged on the flow run and appended to
``<SLUICE_HOME>/alerts/events.jsonl``; ``ops alerts list`` shows what fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from prefect import flow

from flows.hooks import INCIDENT_HOOKS
from sluice.settings import get_settings
from tasks.alerts import collect_run_metrics, collect_slot_lag, collect_stream_lag, evaluate_alert_rules, publish_alerts
from tasks.artifacts import RunArtifacts


@dataclass(frozen=True)
class AlertsSummary:
    series: int
    firing: int
    transitions: int
    samples_collected: int
    firing_rules: list[str]


@flow(name="alerts-evaluate", log_prints=False, **INCIDENT_HOOKS)
def alerts_evaluate(
    rules: str | None = None,
    collect_hours: float = 48.0,
    cdc_dsn: str | None = None,
    streams: list[str] | None = None,
) -> AlertsSummary:
    """Evaluate ``rules`` (a YAML file; Sluice's default rules when omitted) against the metrics store.

    The replication slots of ``cdc_dsn`` (``SLUICE_CDC_DSN`` when omitted; none when neither) and the lag of
    ``streams`` (``broker:topic[@group]``; ``SLUICE_STREAM_LAG_TARGETS`` when omitted) are sampled first.
    """
    settings = get_settings()
    now = datetime.now(timezone.utc)
    collected = collect_run_metrics(settings.home, settings.metadata_db_url(), now, timedelta(hours=collect_hours))
    configured = settings.databases.cdc_dsn
    dsn = cdc_dsn or (configured.get_secret_value() if configured is not None else None)
    if dsn:
        collected += collect_slot_lag(settings.home, dsn, now)
    watched = settings.streams.stream_lag_targets if streams is None else streams
    collected += collect_stream_lag(settings.home, list(watched), now)
    evaluation = evaluate_alert_rules(settings.home, rules, now)
    publish_alerts(evaluation, RunArtifacts.current(settings.env))
    firing = sorted({r.rule_id for r in evaluation.results if r.status == "firing"})
    return AlertsSummary(
        len(evaluation.results),
        sum(r.status == "firing" for r in evaluation.results),
        len(evaluation.events),
        collected,
        firing,
    )


if __name__ == "__main__":
    print(alerts_evaluate())
