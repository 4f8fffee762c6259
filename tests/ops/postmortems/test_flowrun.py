"""The state history of a real failed flow run, and the postmortem artifact, on the Prefect test server."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from ops.incidents.db import store_identity, transaction
from ops.incidents.service import trigger
from ops.postmortems.flowrun import NO_API, publish_artifact, read_state_history
from ops.postmortems.models import EntrySource
from ops.postmortems.service import (
    FactSources,
    attach_publication,
    collect_facts,
    create_postmortem,
    publish_postmortem,
)
from tests.ops.postmortems.factories import scripted_trigger


@pytest.fixture(scope="module")
def failed_run_id(prefect_api: str) -> str:
    """The id of a tiny flow run that failed on the test server."""
    from prefect import flow

    @flow(name="postmortem-probe", retries=0)
    def probe() -> None:
        raise RuntimeError("source file vanished")

    state = probe(return_state=True)
    assert state.is_failed()
    return str(state.state_details.flow_run_id)


@pytest.mark.integration
def test_the_state_history_of_a_failed_run_is_read_oldest_first(prefect_api, failed_run_id):
    history = read_state_history(failed_run_id, api_url=prefect_api)

    assert history.available, history.unavailable
    assert [s.type for s in history.states] == ["PENDING", "RUNNING", "FAILED"]
    assert "source file vanished" in history.states[-1].message
    assert [s.at for s in history.states] == sorted(s.at for s in history.states)


@pytest.mark.integration
def test_a_run_the_api_does_not_know_is_said_so(prefect_api):
    history = read_state_history(str(uuid.uuid4()), api_url=prefect_api)

    assert not history.states and "has no flow run" in history.unavailable


def test_without_an_api_or_a_flow_run_id_nothing_is_asked():
    assert read_state_history("8d7f3c2e-4a1b-4c5d-9e6f-0a1b2c3d4e5f", api_url=None).unavailable == NO_API
    assert read_state_history(None, api_url=None).unavailable == "the incident names no flow run"
    assert publish_artifact("# x", key="k", description="", flow_run_id=None, api_url=None).error == NO_API


@pytest.mark.integration
def test_the_postmortem_timeline_holds_the_flow_runs_states(prefect_api, failed_run_id, incident_engine, tmp_path):
    sources = FactSources(tmp_path / "home", f"sqlite:///{tmp_path / 'sluice.db'}", api_url=prefect_api)
    opened = datetime.now(timezone.utc)
    with transaction(incident_engine) as session:
        incident = trigger(session, scripted_trigger(flow_run_id=failed_run_id, at=opened)).incident
        facts = collect_facts(incident, sources)
        markdown = create_postmortem(session, incident, sources).postmortem.markdown

    prefect_lines = [e for e in facts.timeline if e.source is EntrySource.PREFECT]
    assert [e.kind for e in prefect_lines] == ["PENDING", "RUNNING", "FAILED"]
    assert facts.durations.first_evidence.what == "flow run entered Failed"
    assert facts.durations.detection == opened - prefect_lines[-1].at
    assert "| prefect (flow run) | FAILED: Failed: " in markdown and "source file vanished" in markdown
    assert "Prefect state history unavailable" not in markdown


@pytest.mark.integration
def test_publishing_attaches_the_postmortem_to_the_flow_run_as_an_artifact(
    prefect_api, failed_run_id, incident_engine, tmp_path
):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    sources = FactSources(tmp_path / "home", f"sqlite:///{tmp_path / 'sluice.db'}", api_url=prefect_api)
    with transaction(incident_engine) as session:
        incident = trigger(session, scripted_trigger(flow_run_id=failed_run_id)).incident
        postmortem = create_postmortem(session, incident, sources).postmortem
        key = f"{incident.environment}-postmortem-{store_identity(incident_engine.url)}-inc-{incident.id}"
        written = publish_postmortem(session, postmortem, tmp_path / "pm.md")
    publication = attach_publication(written, api_url=prefect_api)

    assert publication.artifact is not None and publication.artifact.error == "" and publication.artifact.key == key
    assert publication.artifact.flow_run_id == failed_run_id
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    mine = [a for a in found if str(a.id) == publication.artifact.artifact_id]
    assert len(mine) == 1 and mine[0].type == "markdown" and mine[0].data == postmortem.markdown
    assert str(mine[0].flow_run_id) == failed_run_id
