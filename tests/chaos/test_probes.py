"""Probes on a drill without the full stack: the guard against foreign writers of the drill's lake."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pyarrow as pa
import pytest
from deltalake import CommitProperties, write_deltalake

from chaos import drill as drills
from chaos.drill import Drill
from chaos.experiment import load
from chaos.ingestion import RunOutcome
from chaos.probes import lake_written_only_by_drill, outcome

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


@pytest.fixture()
def drill(tmp_path):
    found = Drill(load("duplicate-delivery"), "staging")
    found._stack = SimpleNamespace(lake_uri=str(tmp_path / "lake" / "orders"),
                                   quarantine_uri=str(tmp_path / "quarantine"), close=lambda: None)
    drills.begin(found)
    yield found
    drills.end(found)


def commit(uri: str, run_id: str) -> None:
    write_deltalake(uri, pa.table({"order_id": [1]}), mode="append",
                    commit_properties=CommitProperties(custom_metadata={"sluice.run_id": run_id}))


def test_the_guard_holds_while_only_the_drill_writes_and_breaks_for_someone_else(drill):
    assert lake_written_only_by_drill()["status"] == "held"  # nothing written yet
    commit(drill.stack.lake_uri, "run-1")
    drill.runs.append(RunOutcome("first", "Completed", NOW, NOW, flow_run_id="run-1"))
    assert lake_written_only_by_drill()["status"] == "held"

    commit(drill.stack.lake_uri, "someone-elses-run")

    found = lake_written_only_by_drill()
    assert found["status"] == "broken" and "someone-elses-run" in found["detail"]


def test_outcome_judges_each_run_against_what_it_expects(drill):
    drill.runs += [RunOutcome("first", "Completed", NOW, NOW), RunOutcome("second", "Completed", NOW, NOW)]

    assert outcome()["status"] == "held"
    assert outcome(expect={"second": ["failed-with-incident"]})["status"] == "broken"


def test_alerting_that_is_required_breaks_when_the_fault_failed_no_run(drill):
    from chaos.drill import Phase
    from chaos.probes import alerting

    drill.runs.append(RunOutcome("under-fault", "Completed", NOW, NOW))
    drill.phase = Phase.METHOD
    assert alerting("lake-disk-full", required=True)["status"] == "held"  # the method may still fail a run

    drill.phase = Phase.AFTER
    assert alerting("lake-disk-full", required=False)["status"] == "held"
    found = alerting("lake-disk-full", required=True)
    assert found["status"] == "broken" and "this fault must fail the run" in found["detail"]
