"""Finding the incident of a flow run: the one it opened, or the open one its failure was grouped into."""

from __future__ import annotations

from ops.incidents.db import transaction
from ops.incidents.service import incident_of_flow_run, trigger
from tests.ops.incidents.factories import failure


def grouped_text(run_id: str) -> str:
    """The timeline text the failure hook writes: the flow run's name and id, then how it ended."""
    return f"flow run brave-otter ({run_id}) failed in task list-source: no files match"


def test_the_run_that_opened_an_incident_and_a_run_grouped_into_it_both_find_it(incident_engine):
    with transaction(incident_engine) as session:
        opened = trigger(session, failure(0, flow_run_id="run-a", text=grouped_text("run-a"))).incident
        trigger(session, failure(1, flow_run_id="run-b", text=grouped_text("run-b")))
        other = trigger(
            session, failure(2, dedup_key="flow-failure:other", flow_run_id="run-c", text=grouped_text("run-c"))
        ).incident

    with transaction(incident_engine) as session:
        assert incident_of_flow_run(session, "run-a").ref == opened.ref
        assert incident_of_flow_run(session, "run-b").ref == opened.ref, "named only on the timeline"
        assert incident_of_flow_run(session, "run-c").ref == other.ref
        assert incident_of_flow_run(session, "run-") is None, "a prefix of an id names no run"
        assert incident_of_flow_run(session, "run-z") is None
