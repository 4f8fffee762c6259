"""Failed flow runs open incidents through the state hooks, on the real Prefect test server."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
from prefect import flow, task

from flows.hooks import INCIDENT_HOOKS
from ops.incidents.db import open_engine, store_identity, store_url, transaction
from ops.incidents.service import ensure_incident, list_incidents
from sluice.errors import SourceNotFoundError
from tests.ops.notify.factories import CHANNEL

pytestmark = pytest.mark.integration


@task(name="list-source")
def list_source(n: int) -> None:
    raise SourceNotFoundError(f"no files match *.csv under /drop/orders/{n}", hint="check the path")


@flow(name="ingest-probe", **INCIDENT_HOOKS)
def failing_ingest(n: int, dataset: str = "orders") -> None:
    list_source(n)


def incidents(home):
    with transaction(open_engine(store_url(home))) as session:
        return [ensure_incident(session, i.id) for i in list_incidents(session)]


def test_fifty_failures_with_one_signature_make_one_incident_with_its_runbook(prefect_api, sluice_home):
    for n in range(50):
        state = failing_ingest(n, return_state=True)
        assert state.is_failed()

    (incident,) = incidents(sluice_home.home)
    assert incident.occurrences == 50
    assert incident.source.value == "flow-failure" and incident.dataset == "orders"
    assert incident.runbook_id == "source-unreachable"
    assert "exception=SourceNotFoundError" in incident.signature and "task=list-source" in incident.signature
    assert incident.flow_run_id and "/runs/flow-run/" in (incident.flow_run_url or "")
    assert [e.kind for e in incident.timeline][:2] == ["opened", "runbook"]


def test_a_drill_failure_never_adds_to_the_real_incident_of_the_same_signature(prefect_api, sluice_home):
    from prefect import tags

    assert failing_ingest(1, return_state=True).is_failed()
    with tags("chaos-drill"):
        assert failing_ingest(1, return_state=True).is_failed()

    real, drill = sorted(incidents(sluice_home.home), key=lambda i: i.is_drill)
    assert (real.is_drill, real.occurrences, real.source.value) == (False, 1, "flow-failure")
    assert (drill.is_drill, drill.occurrences, drill.source.value) == (True, 1, "chaos-drill")
    assert drill.dedup_key == f"chaos-drill/{real.dedup_key}"


def test_a_failed_run_gets_an_artifact_naming_its_incident(prefect_api, sluice_home):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    state = failing_ingest(1, return_state=True)
    (incident,) = incidents(sluice_home.home)
    with get_client(sync_client=True) as client:
        run_id = state.state_details.flow_run_id
        of_run = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        found = client.read_artifacts(artifact_filter=of_run)
    store = store_identity(store_url(sluice_home.home))
    (artifact,) = [a for a in found if a.key == f"{sluice_home.env}-incident-{store}-inc-{incident.id}"]
    assert artifact.task_run_id is None and str(artifact.flow_run_id) == str(run_id)
    assert f"ops incident show {incident.ref}" in artifact.data
    (link,) = re.findall(r"\[source-unreachable\]\((file://[^)]+)\)", artifact.data)  # no base URL: the file
    assert Path(urlparse(link).path).read_text(encoding="utf-8").startswith("---\nid: source-unreachable")


def test_the_incident_artifact_links_the_runbook_under_the_base_url(prefect_api, sluice_home, monkeypatch):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from sluice.settings import get_settings

    monkeypatch.setenv("SLUICE_RUNBOOK_BASE_URL", "https://runbooks.example.com/sluice/")
    get_settings(fresh=True)
    try:
        state = failing_ingest(2, return_state=True)
    finally:
        monkeypatch.delenv("SLUICE_RUNBOOK_BASE_URL")
        get_settings(fresh=True)
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    (artifact,) = [a for a in found if "-incident-" in (a.key or "")]
    assert "[source-unreachable](https://runbooks.example.com/sluice/source-unreachable.md)" in artifact.data


def test_a_failed_run_pages_and_posts_through_the_real_clients(prefect_api, sluice_home, pagerduty, slack):
    failing_ingest(7, return_state=True)
    failing_ingest(8, return_state=True)  # the same cause: no second page

    (incident,) = incidents(sluice_home.home)
    (page, *more) = pagerduty.bodies()
    assert page["event_action"] == "trigger" and page["dedup_key"] == incident.dedup_key
    assert page["payload"]["severity"] == "error" and not more  # SEV2 -> error
    posts = slack.bodies()
    assert posts[0]["channel"] == CHANNEL and incident.ref in posts[0]["text"]
    assert "thread_ts" in posts[1] and "2 occurrences" in posts[1]["text"]  # the repeat, in the thread
