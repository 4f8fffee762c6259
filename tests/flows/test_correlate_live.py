"""Live fault injection: a real flow on the Dask cluster, a real fault in a worker, the psutil sampler on,
then ``ops correlate`` on the failure must rank the injected resource first."""

from __future__ import annotations

import json

import pytest

from ops.correlate import resource_of
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import list_incidents
from tests.flows.fault_drill import run_drill
from tests.ops.factories import invoke

# Host-wide series are ranked too: other tests' faults on the same host would be co-occurring causes.
pytestmark = [pytest.mark.integration, pytest.mark.serial]


@pytest.fixture()
def sampled(monkeypatch, dask_address):
    monkeypatch.setenv("SLUICE_METRICS_SAMPLE_SECONDS", "0.2")
    run_drill(dask_address, "warm-up", baseline_seconds=0.5)  # both workers warm: their first imports are done


def explain(result) -> str:
    """The top suspects with their reasons, for a failure message."""
    return "\n".join(
        f"{s['metric']} {s['score']}: {'; '.join(s['evidence']['reasons'][:2])}"
        for s in json.loads(result.stdout)["suspects"]
    )


def ranking(result) -> list[tuple[str, float]]:
    return [(s["metric"], s["score"]) for s in json.loads(result.stdout)["suspects"]]


def test_a_memory_balloon_in_a_worker_ranks_memory_first_on_the_incident(
    prefect_api, dask_address, sluice_home, sampled, monkeypatch
):
    state = run_drill(dask_address, "memory")
    assert state.is_failed()
    with transaction(open_engine(store_url(sluice_home.home))) as session:
        incident = next(i for i in list_incidents(session) if i.flow_name == "fault-drill")
        ref = incident.ref
    monkeypatch.setenv("SLUICE_CLI_RAISE", "1")

    result = invoke("correlate", ref, "-o", "json", "--top", "5")

    assert result.exit_code == 0, result.output
    top = ranking(result)
    assert resource_of(top[0][0]) == "memory", explain(result)
    assert json.loads(result.stdout)["suspects"][0]["evidence"]["direction"] == "up"
    shown = json.loads(invoke("incident", "show", ref, "-o", "json").stdout)
    (entry,) = [e for e in shown["timeline"] if e["kind"] == "correlation"]
    assert entry["text"].startswith(f"correlation: top suspect {top[0][0]} (resource=memory)")


def test_a_cpu_hog_in_a_worker_ranks_cpu_first_for_the_flow_run(prefect_api, dask_address, sluice_home, sampled):
    state = run_drill(dask_address, "cpu", fault_seconds=5.0)
    assert state.is_failed()

    result = invoke("correlate", "--flow-run", str(state.state_details.flow_run_id), "-o", "json", "--top", "5")

    assert result.exit_code == 0, result.output
    top = ranking(result)
    assert resource_of(top[0][0]) == "cpu", explain(result)
