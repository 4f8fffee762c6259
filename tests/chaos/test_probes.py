"""Probes on a drill without the full stack: the guard against foreign writers of the drill's lake, outcomes,
and alerting (by failed runs' incidents, and by alert rules evaluated on the drill's stack)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
from deltalake import CommitProperties, write_deltalake

from chaos import drill as drills
from chaos.drill import Drill, Phase
from chaos.experiment import load
from chaos.ingestion import RunOutcome
from chaos.probes import lake_written_only_by_drill, outcome, rule_alerting
from ops.errors import ChaosError
from tests.chaos.factories import drill_alert

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)
FAULT = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=1)


@pytest.fixture()
def drill(tmp_path):
    found = Drill(load("duplicate-delivery"), "staging")
    found._stack = SimpleNamespace(
        lake_uri=str(tmp_path / "lake" / "orders"),
        quarantine_uri=str(tmp_path / "quarantine"),
        apis={},
        close=lambda: None,
    )
    drills.begin(found)
    yield found
    drills.end(found)


def commit(uri: str, run_id: str) -> None:
    write_deltalake(
        uri,
        pa.table({"order_id": [1]}),
        mode="append",
        commit_properties=CommitProperties(custom_metadata={"sluice.run_id": run_id}),
    )


def test_the_guard_holds_while_only_the_drill_writes_and_breaks_for_someone_else(drill):
    assert lake_written_only_by_drill()["status"] == "held"  # nothing written yet
    commit(drill.stack.lake_uri, "run-1")
    drill.runs.append(RunOutcome("first", "Completed", NOW, NOW, flow_run_id="run-1"))
    assert lake_written_only_by_drill()["status"] == "held"

    commit(drill.stack.lake_uri, "someone-elses-run")

    found = lake_written_only_by_drill()
    assert found["status"] == "broken" and "someone-elses-run" in found["detail"]


def test_the_guard_breaks_for_someone_else_writing_the_drills_api_dataset(drill: Drill, tmp_path: Path) -> None:
    stand_in: Any = drill.stack
    stand_in.lake_root = tmp_path / "lake"
    stand_in.apis = {"crm": SimpleNamespace(dataset="crm_accounts")}
    drill.runs.append(RunOutcome("first", "Completed", NOW, NOW, flow_run_id="run-1"))
    commit(str(tmp_path / "lake" / "crm_accounts"), "run-1")
    assert lake_written_only_by_drill()["status"] == "held"

    commit(str(tmp_path / "lake" / "crm_accounts"), "someone-elses-run")

    found = lake_written_only_by_drill()
    assert found["status"] == "broken" and "crm_accounts" in found["detail"] and "someone-elses-run" in found["detail"]


def test_outcome_judges_each_run_against_what_it_expects(drill):
    drill.runs += [RunOutcome("first", "Completed", NOW, NOW), RunOutcome("second", "Completed", NOW, NOW)]

    assert outcome()["status"] == "held"
    assert outcome(expect={"second": ["failed-with-incident"]})["status"] == "broken"


def test_alerting_that_is_required_breaks_when_the_fault_failed_no_run(drill):
    from chaos.probes import alerting

    drill.runs.append(RunOutcome("under-fault", "Completed", NOW, NOW))
    drill.phase = Phase.METHOD
    assert alerting("lake-disk-full", required=True)["status"] == "held"  # the method may still fail a run

    drill.phase = Phase.AFTER
    assert alerting("lake-disk-full", required=False)["status"] == "held"
    found = alerting("lake-disk-full", required=True)
    assert found["status"] == "broken" and "this fault must fail the run" in found["detail"]


@pytest.fixture()
def faulted(stand_in_drill):
    """A drill whose fault went in a minute ago, after its method."""
    stand_in_drill.fault_started_at, stand_in_drill.phase = FAULT, Phase.AFTER
    return stand_in_drill


EXPECT = {"rule": "quarantine-rate-high", "runbook": "quarantine-rate-spike", "within_seconds": 120}


def test_rule_alerting_holds_for_the_rules_drill_incident_with_its_runbook_in_time(faulted):
    drill_alert(faulted.id, FAULT + timedelta(seconds=40))

    found = rule_alerting(**EXPECT)

    assert found["status"] == "held" and "(quarantine-rate-spike) 40.0 s after the fault" in found["detail"]


def test_rule_alerting_breaks_when_the_incident_links_another_runbook(faulted):
    drill_alert(faulted.id, FAULT + timedelta(seconds=40), runbook="row-count-anomaly")

    found = rule_alerting(**EXPECT)

    assert found["status"] == "broken"
    assert "links runbook row-count-anomaly, not quarantine-rate-spike" in found["detail"]


def test_rule_alerting_breaks_when_the_alert_came_too_late(faulted):
    drill_alert(faulted.id, FAULT + timedelta(seconds=300))

    found = rule_alerting(**EXPECT)

    assert found["status"] == "broken" and "later than 120 s" in found["detail"]


def test_rule_alerting_that_is_required_waits_for_the_method_then_breaks_when_nothing_rang(faulted):
    faulted.phase = Phase.METHOD
    assert rule_alerting(**EXPECT)["status"] == "held"  # the method may still evaluate the rules

    faulted.phase = Phase.AFTER
    found = rule_alerting(**EXPECT)
    assert found["status"] == "broken" and "this fault must ring it" in found["detail"]
    assert rule_alerting(**EXPECT | {"required": False})["status"] == "held"


def test_rule_alerting_ignores_other_rules_other_drills_and_real_alerts(faulted):
    drill_alert(faulted.id, FAULT, rule_id="quarantine-rate-spike")
    drill_alert("0123456789ab", FAULT)
    drill_alert(None, FAULT)

    found = rule_alerting(**EXPECT)

    assert found["status"] == "broken" and "opened no drill incident" in found["detail"]


def test_rule_alerting_refuses_a_rule_that_does_not_exist(faulted):
    with pytest.raises(ChaosError, match="no alert rule 'quarantine-rate-hi'"):
        rule_alerting(**EXPECT | {"rule": "quarantine-rate-hi"})
