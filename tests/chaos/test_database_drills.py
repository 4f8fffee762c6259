"""The database drills against the local staging stack (Prefect test server, Dask LocalCluster) and the private
PostgreSQL server each drill starts for its source. Every drill must pass within a minute, its fault must have
gone in, and its incidents are resolved afterwards."""

from __future__ import annotations

import pytest

from chaos.pgserver import why_no_server
from chaos.runner import run_drill
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import ensure_incident

pytestmark = [pytest.mark.integration, pytest.mark.serial]
# drill -> (the method step that injects the fault, what its output says, the runbook its incident must link)
DRILLS = {
    "db-backend-killed-mid-snapshot": ("kill-the-snapshot-sessions", "mid-snapshot", None),
    "pg-restart-mid-capture": ("restart-postgresql-mid-capture", "restarted", None),
    "cdc-consumer-stalled": ("stall-the-capture-until-the-slot-lag-alarm", "cdc-slot-lag-bytes rang", "cdc-slot-lag"),
    "source-alter-table-mid-stream": ("drop-a-contract-column", "dropped contract column", "source-schema-change"),
}


# A killed snapshot fails with "invalid snapshot identifier", which sluice.sources.database.classify makes a plain
# SourceError: its incident links source-unreachable (the S3 runbook), not database-unreachable.
@pytest.fixture(autouse=True)
def _server_binaries() -> None:
    if reason := why_no_server():
        pytest.skip(f"no PostgreSQL server for the drill's source: {reason}")


def step_output(journal, name: str) -> str:
    (step,) = [r for r in journal["run"] if r["activity"]["name"] == name]
    assert step["status"] == "succeeded", step
    return str(step["output"]["detail"])


@pytest.mark.parametrize("name", list(DRILLS))
def test_the_database_drill_passes_and_the_lake_equals_the_source(name, staging_stack):
    fault_step, fault_said, runbook = DRILLS[name]
    result = run_drill(name, "staging")

    assert fault_said in step_output(result.journal, fault_step)
    (conservation,) = [v for v in result.verdicts if v["kind"] == "conservation"]
    assert conservation["held"] and "equals the source" in conservation["detail"], conservation["detail"]
    with transaction(open_engine(store_url(staging_stack.home))) as session:
        found = [ensure_incident(session, ref) for ref in result.incidents]
    assert all(i.is_drill and i.status.value == "resolved" for i in found)
    if runbook is not None:
        assert runbook in {i.runbook_id for i in found}, [(i.ref, i.runbook_id) for i in found]
    assert result.passed, result.summary
