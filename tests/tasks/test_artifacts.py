"""Artifacts on the flow run, read back from the Prefect test server: keys, links, rounded numbers."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse
from uuid import uuid4

import pytest
from prefect import flow, tags

from ops.alerts.service import AlertResult, Evaluation
from sluice.runs.records import RunReport
from tasks.alerts import publish_alerts
from tasks.artifacts import RunArtifacts, scope_of
from tasks.records import publish_artifacts

AT = datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc)


def firing(value: float, **changes: object) -> AlertResult:
    fields: dict[str, object] = {
        "rule_id": "row-count-anomaly",
        "severity": "SEV3",
        "runbook": "row-count-anomaly",
        "metric": "sluice_rows_read",
        "labels": {"dataset": "orders"},
        "status": "firing",
        "source": "baseline",
        "value": value,
        "expected": 402.1187,
        "lower": 12.345678,
        "upper": 791.99999,
        "share": 1.0,
        "points": 6,
        "since": AT,
        "dedup_key": "row-count-anomaly/orders",
    }
    return AlertResult(**{**fields, **changes})


@flow(name="publish-probe")
def publish_probe(evaluation: Evaluation, report: RunReport) -> str:
    artifacts = RunArtifacts.current("staging")
    publish_alerts(evaluation, artifacts)
    publish_artifacts(report, artifacts)
    return str(artifacts.flow_run_id)


def artifacts_of(flow_run_id: str) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found}


def report() -> RunReport:
    run = RunReport(run_id=str(uuid4()), dataset="orders", source="/drop/orders", env="staging", started_at=AT)
    run.rows_read, run.rows_written, run.rows_quarantined = 1_234_567, 1_234_000, 567
    run.stage_seconds = {"read_validate_stage": 12.345678, "commit": 0.0421379}
    return run


def test_a_scope_is_the_environment_and_the_drill_of_the_run():
    assert scope_of("dev") == "dev"
    assert scope_of("staging", ["chaos-drill", "drill-0a1b2c3d4e5f"]) == "staging-drill-0a1b2c3d4e5f"
    assert RunArtifacts(None, "dev").key("ingest", "Orders_EU", "summary") == "dev-ingest-orders-eu-summary"


def test_outside_a_flow_run_nothing_is_created():
    assert RunArtifacts.current("dev") == RunArtifacts(None, "dev")
    assert RunArtifacts(None, "dev").markdown("# x", key="dev-x", description="") is None


@pytest.mark.integration
def test_artifacts_are_the_flow_runs_keyed_by_environment_with_rounded_values_and_runbook_links(prefect_api):
    evaluation = Evaluation(AT, [firing(793.2620686809722)], [], {})

    run_id = publish_probe(evaluation, report())

    found = artifacts_of(run_id)
    assert set(found) == {"staging-alerts", "staging-ingest-orders-summary", "staging-ingest-orders-files"}
    assert all(str(a.flow_run_id) == run_id and a.task_run_id is None for a in found.values())
    alerts = found["staging-alerts"].data
    assert "| 793 | 12.3 to 792 |" in alerts and "793.26" not in alerts and "12.345" not in alerts
    (link,) = re.findall(r"\[row-count-anomaly\]\(([^)]+)\)", alerts)
    assert urlparse(link).scheme == "file" and Path(urlparse(link).path).name == "row-count-anomaly.md"
    assert Path(urlparse(link).path).is_file()
    summary = found["staging-ingest-orders-summary"].data
    assert "| 1,234,567 | 1,234,000 | 567 |" in summary
    assert "- read_validate_stage: 12.3 s" in summary and "- commit: 0.0421 s" in summary


@pytest.mark.integration
def test_a_drill_runs_artifacts_are_keyed_by_its_drill(prefect_api):
    with tags("chaos-drill", "drill-feedc0ffee00"):
        run_id = publish_probe(Evaluation(AT, [firing(1_234_567.891)], [], {}), report())

    found = artifacts_of(run_id)
    assert set(found) == {
        "staging-drill-feedc0ffee00-alerts",
        "staging-drill-feedc0ffee00-ingest-orders-summary",
        "staging-drill-feedc0ffee00-ingest-orders-files",
    }
    assert "| 1,230,000 |" in found["staging-drill-feedc0ffee00-alerts"].data
