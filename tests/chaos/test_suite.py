"""The first suite against the local staging stack: Prefect test server, Dask LocalCluster, moto S3 behind
the fault proxy, the drill's own lake. Every drill must pass; each runs once (one of them through the CLI).
Drills whose fault should ring an alert rule must have had it open a drill incident with the rule's runbook."""

from __future__ import annotations

import json
import os

import pytest

from chaos.disk import why_no_tmpfs
from chaos.runner import run_drill
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import ensure_incident
from tests.ops.factories import invoke

pytestmark = [pytest.mark.integration, pytest.mark.serial]
ALERTING = {
    "lake-disk-full": "lake-disk-full",
    "s3-source-outage": "source-unreachable",
    "s3-source-blackhole": "source-unreachable",
    "prefect-api-unreachable": "prefect-api-unreachable",
    "dask-worker-killed": "dask-worker-lost",
    "poison-records": "source-file-unreadable",
    "s3-network-degraded": "source-unreachable",
}
RULE_ALERTING = {
    "duplicate-delivery": ("duplicate-surge", "duplicate-surge"),
    "poison-records": ("quarantine-rate-high", "quarantine-rate-spike"),
    "source-schema-change": ("quarantine-rate-high", "quarantine-rate-spike"),
    "cpu-hog": ("host-cpu-saturated", "dask-worker-lost"),
    "memory-balloon": ("host-memory-high", "dask-worker-lost"),
    "s3-network-degraded": ("source-network-slow", "source-unreachable"),
    "dask-worker-killed": ("worker-process-lost", "dask-worker-lost"),
}
CORRELATED = {
    "lake-disk-full": "disk",
    "cpu-hog": "cpu",
    "memory-balloon": "memory",
    "s3-network-degraded": "network",
    "dask-worker-killed": "worker",
}
SOURCE_SIDE = {"duplicate-delivery", "poison-records"}
DRILLS = [
    "duplicate-delivery",
    "s3-network-degraded",
    "s3-source-outage",
    "s3-source-blackhole",
    "poison-records",
    "dask-worker-killed",
    "prefect-api-unreachable",
    "lake-disk-full",
    "cpu-hog",
    "memory-balloon",
]


def incidents(home, refs):
    with transaction(open_engine(store_url(home))) as session:
        return [ensure_incident(session, ref) for ref in refs]


def rule_of(incident) -> str | None:
    """The alert rule that opened ``incident`` (from its signature), or None for a failed run's incident."""
    head = incident.signature.split(" ", 1)[0]
    return head.removeprefix("alert=") if head.startswith("alert=") else None


def assert_the_rule_alerted(name, verdicts, found) -> None:
    rule, runbook = RULE_ALERTING[name]
    (verdict,) = [v for v in verdicts if v["name"] == f"alerting-{rule}-runbook-in-time"]
    assert verdict["held"], verdict["detail"]
    alerted = [i for i in found if rule_of(i) == rule]
    assert alerted and all(i.runbook_id == runbook for i in alerted), [(i.ref, i.runbook_id) for i in found]
    listed = json.loads(invoke("incident", "list", "--source", "chaos-drill", "-o", "json").stdout)
    assert {i.ref for i in alerted} <= {i["id"] for i in listed}


def assert_the_cause_was_correlated(resource, verdicts, found) -> None:
    (verdict,) = [v for v in verdicts if v["name"] == f"alerting-correlation-ranks-{resource}-first"]
    assert verdict["held"], verdict["detail"]
    said = f"(resource={resource})" if resource != "worker" else "worker="
    assert found and all(
        any(e.kind == "correlation" and said in e.text.split(";", 1)[0] for e in i.timeline) for i in found
    ), [(i.ref, [e.text for e in i.timeline if e.kind == "correlation"]) for i in found]


def assert_the_source_change_is_the_cause(found) -> None:
    assert found and all(
        any(e.kind == "cause" and "the source changed" in e.text for e in i.timeline) for i in found
    ), [(i.ref, [e.text for e in i.timeline if e.kind == "cause"]) for i in found]


@pytest.mark.parametrize("name", DRILLS)
def test_the_drill_passes_on_the_local_staging_stack(name, staging_stack):
    if name == "lake-disk-full" and os.geteuid() != 0 and (reason := why_no_tmpfs()):
        pytest.skip(f"no small disk for the lake: {reason}")  # as root (CI) a missing tmpfs fails the drill instead

    result = run_drill(name, "staging")

    assert result.passed, result.summary
    assert {v["kind"] for v in result.verdicts} >= {"conservation", "outcome", "recovery", "method", "rollback"}
    found = incidents(staging_stack.home, result.incidents)
    for incident in found:
        kinds = [e.kind for e in incident.timeline]
        assert incident.is_drill and incident.source.value == "chaos-drill" and incident.status.value == "resolved"
        assert rule_of(incident) is not None or incident.runbook_id == ALERTING[name]
        assert {"chaos-action", "chaos-rollback", "chaos-verdict"} <= set(kinds)
    if name in RULE_ALERTING:
        assert_the_rule_alerted(name, result.verdicts, found)
    if name in CORRELATED:
        assert_the_cause_was_correlated(CORRELATED[name], result.verdicts, found)
    if name in SOURCE_SIDE:
        assert_the_source_change_is_the_cause(found)
    if name == "lake-disk-full":
        assert result.incidents, "a full disk must fail the run and open an incident"
        listed = json.loads(invoke("incident", "list", "--source", "chaos-drill", "-o", "json").stdout)
        assert [i["id"] for i in listed] == result.incidents


def test_ops_chaos_run_drills_through_the_flow_and_attaches_the_journal(staging_stack, prefect_api, monkeypatch):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)

    result = invoke("chaos", "run", "source-schema-change", "--env", "staging")

    assert result.exit_code == 0, result.output
    assert "PASSED: 4 of 4 hypotheses held (score 1.00)" in result.stdout
    (drill,) = json.loads(invoke("chaos", "report", "--last", "1", "-o", "json").stdout)["drills"]
    key = f"staging-drill-{drill['drill_id']}-source-schema-change"
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    (artifact,) = [a for a in found if str(a.flow_run_id) == drill["flow_run_id"]]
    assert (
        artifact.task_run_id is None
        and artifact.description == f"Chaos drill {drill['drill_id']}: PASSED: 4 of 4 hypotheses held (score 1.00)"
    )  # the whole summary
    assert drill["experiment"] == "source-schema-change" and drill["status"] == "passed"
    assert (
        "# Chaos drill" in artifact.data
        and "conservation-every-source-row-once | conservation | SEV1 | held" in artifact.data
    )
    found_incidents = incidents(staging_stack.home, drill["incidents"])
    assert_the_rule_alerted("source-schema-change", drill["verdicts"], found_incidents)
    assert_the_source_change_is_the_cause(found_incidents)
