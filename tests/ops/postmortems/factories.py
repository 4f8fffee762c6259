"""A scripted incident with known times, its runs and its alert transitions.

The script (T0 = 2026-03-05 03:00 UTC, SEV2, dataset ``orders``):

    T0-4m    chaos action: the drill deletes a source file
    T0-2m    run-a starts; it fails at T0-1m18s (10 rows read, 2 quarantined)
    T0-30s   alert rows-low fires (its condition began at T0-3m)
    T0       the incident opens
    T0+3m    acknowledged by ana
    T0+5m    a note
    T0+12m   mitigated
    T0+20m   run-b, the rerun, completes (10 rows read, 2 quarantined)
    T0+35m   alert rows-low resolves
    T0+40m   resolved
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from ops.alerts.events import AlertEvent, AlertStatus, JsonLinesSink
from ops.incidents.models import Incident, Severity, Source, Status
from ops.incidents.service import Trigger, record, transition, trigger
from sluice.runs.metastore import engine_for, save_run
from sluice.runs.records import RunReport
from tests.ops.factories import run_report
from tests.ops.incidents.factories import T0

KEY = "rows-low:0123456789ab"


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def scripted_trigger(**overrides: object) -> Trigger:
    spec: dict[str, object] = {
        "title": "rows-low firing for orders",
        "severity": Severity.SEV2,
        "source": Source.ALERT,
        "dedup_key": KEY,
        "environment": "dev",
        "text": "alert rows-low fired",
        "at": T0,
        "flow_name": "ingest-files",
        "dataset": "orders",
        "flow_run_id": "run-a",
        "runbook_id": "row-count-anomaly",
        "signature": "SourceNotFoundError: s3://drop/orders/a.csv",
    }
    spec.update(overrides)
    return Trigger(**spec)  # type: ignore[arg-type]


def scripted_incident(session: Session, **overrides: object) -> Incident:
    """The incident of the script above, resolved, with its chaos action and note."""
    incident = trigger(session, scripted_trigger(**overrides)).incident
    record(session, incident, "chaos-inject", "drill", "deleted s3://drop/orders/a.csv", at=minutes(-4))
    transition(session, incident, Status.ACKNOWLEDGED, who="ana", at=minutes(3))
    record(session, incident, "note", "ops", "rerunning after restoring the file", at=minutes(5), who="ana")
    transition(session, incident, Status.MITIGATED, who="ana", at=minutes(12))
    transition(session, incident, Status.RESOLVED, who="ana", at=minutes(40))
    session.flush()
    return incident


def scripted_runs() -> list[RunReport]:
    """run-a (failed) and run-b (the rerun) count; the others fall outside the incident."""
    return [
        replace(run_report("run-a", started_at=minutes(-2)), status="failed"),
        run_report("run-b", started_at=minutes(20)),
        run_report("run-before", started_at=minutes(-30)),
        run_report("run-after", started_at=minutes(50)),
        replace(run_report("run-other", started_at=minutes(10), dataset="customers"), status="failed"),
    ]


def save_scripted_runs(url: str) -> None:
    with engine_for(url).begin() as conn:
        for report in scripted_runs():
            save_run(conn, report)


def alert(
    status: AlertStatus, at: datetime, *, key: str = KEY, started_at: datetime | None = None, rule_id: str = "rows-low"
) -> AlertEvent:
    return AlertEvent(
        key,
        status,
        rule_id,
        "Rows read far below the baseline",
        "SEV2",
        "row-count-anomaly",
        "sluice_rows_read",
        {"dataset": "orders"},
        12.0,
        400.0,
        250.0,
        550.0,
        started_at or at,
        at,
    )


def scripted_alerts() -> list[AlertEvent]:
    """Two transitions of the incident's alert between earlier and later ones, and another alert's."""
    return [
        alert(AlertStatus.FIRING, minutes(-2880)),
        alert(AlertStatus.RESOLVED, minutes(-2870)),
        alert(AlertStatus.FIRING, minutes(-0.5), started_at=minutes(-3)),
        alert(AlertStatus.FIRING, T0, key="lag-high:abcdefabcdef", rule_id="lag-high"),
        alert(AlertStatus.RESOLVED, minutes(35), started_at=minutes(-3)),
        alert(AlertStatus.FIRING, minutes(120)),
    ]


def write_alerts(home: Path, events: list[AlertEvent]) -> None:
    sink = JsonLinesSink(home / "alerts" / "events.jsonl")
    for event in events:
        sink.emit(event)
