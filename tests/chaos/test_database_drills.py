"""The database drills against the local staging stack (Prefect test server, Dask LocalCluster) and a private
PostgreSQL server each drill starts for its source. Every drill must pass, its incidents resolved afterwards."""

from __future__ import annotations

import time

import pytest

from chaos.pgserver import why_no_server
from chaos.runner import run_drill
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import ensure_incident

pytestmark = pytest.mark.integration
DRILLS = {
    "db-backend-killed-mid-snapshot": None,
    "pg-restart-mid-capture": None,
    "cdc-consumer-stalled": "cdc-slot-lag",
    "source-alter-table-mid-stream": "source-schema-change",
}
SECONDS = 60


@pytest.fixture(autouse=True)
def _server_binaries() -> None:
    if reason := why_no_server():
        pytest.skip(f"no PostgreSQL server for the drill's source: {reason}")


@pytest.mark.parametrize("name", list(DRILLS))
def test_the_database_drill_passes_and_the_lake_equals_the_source(name, staging_stack):
    clock = time.monotonic()
    result = run_drill(name, "staging")
    seconds = time.monotonic() - clock

    print([(v["name"], v["detail"]) for v in result.verdicts]); print([(s.name, s.detail) for s in []])
    assert result.passed, result.summary
    (conservation,) = [v for v in result.verdicts if v["kind"] == "conservation"]
    assert conservation["held"] and "equals the source" in conservation["detail"]
    with transaction(open_engine(store_url(staging_stack.home))) as session:
        found = [ensure_incident(session, ref) for ref in result.incidents]
    assert all(i.is_drill and i.status.value == "resolved" for i in found)
    if DRILLS[name] is not None:
        assert DRILLS[name] in {i.runbook_id for i in found}, [(i.ref, i.runbook_id) for i in found]
    assert seconds < SECONDS, f"{name} took {seconds:.0f} s"
