"""The alert rules evaluated on a drill's own run records and metric store, opening drill incidents."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chaos.alerts import (
    drill_store,
    ensure_expectation,
    ensure_history,
    ensure_rules,
    evaluate,
    seed_history,
)
from chaos.incidents import alert_incidents
from ops.errors import ChaosError
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.models import Source
from ops.metrics.models import Selector
from sluice.settings import get_settings
from tests.chaos.factories import drill_run

NOW = datetime.now(timezone.utc).replace(microsecond=0)
RULES = ["duplicate-surge", "quarantine-rate-high", "quarantine-rate-spike"]


@pytest.fixture()
def drill(stand_in_drill):
    return stand_in_drill


def incidents_of(drill, rule=None):
    with transaction(open_engine(store_url(get_settings().home))) as session:
        return [(i.ref, i.runbook_id, i.is_drill, i.source) for i in alert_incidents(session, drill, rule)]


def test_a_clean_history_rings_no_rule_and_holds_no_host_timings(drill):
    seed_history(drill.stack, ensure_history(runs=48, rows=1500), now=NOW)
    drill_run(drill, NOW - timedelta(minutes=1))

    found = evaluate(drill, ensure_rules(RULES), now=NOW)

    assert found.firing == [] and {r.source for r in found.evaluation.results} == {"detector", "static"}
    assert incidents_of(drill) == []
    store = drill_store(drill.stack)
    assert store.series(Selector("sluice_rows_duplicate"))[0].points == 49
    assert store.series(Selector("sluice_throughput_rows_per_second")) == []


def test_a_duplicate_surge_after_a_clean_history_opens_a_drill_incident_with_its_runbook(drill):
    seed_history(drill.stack, ensure_history(runs=48, rows=1500), now=NOW)
    drill_run(drill, NOW - timedelta(minutes=1), rows_read=3000, rows_duplicate=1530)

    found = evaluate(drill, ensure_rules(["duplicate-surge"]), now=NOW)

    assert found.firing == ["duplicate-surge"] and found.to_output()["transitions"] == 1
    assert [r[1:] for r in incidents_of(drill, "duplicate-surge")] == [("duplicate-surge", True, Source.CHAOS_DRILL)]


def test_without_a_history_the_duplicate_rule_cannot_tell_and_opens_nothing(drill):
    drill_run(drill, NOW - timedelta(minutes=1), rows_read=3000, rows_duplicate=1530)

    found = evaluate(drill, ensure_rules(["duplicate-surge"]), now=NOW)

    assert [r.status for r in found.evaluation.results] == ["insufficient"]
    assert incidents_of(drill) == []


def test_a_quarantine_rate_above_five_percent_rings_the_static_rule_without_history(drill):
    drill_run(drill, NOW - timedelta(minutes=1), rows_read=1800, rows_quarantined=920, rows_duplicate=0)

    found = evaluate(drill, ensure_rules(["quarantine-rate-high"]), now=NOW)

    assert found.firing == ["quarantine-rate-high"]
    assert [r[1] for r in incidents_of(drill, "quarantine-rate-high")] == ["quarantine-rate-spike"]


def test_evaluating_again_while_the_alert_fires_opens_no_second_incident(drill):
    drill_run(drill, NOW - timedelta(minutes=2), rows_read=1800, rows_quarantined=920, rows_duplicate=0)
    evaluate(drill, ensure_rules(["quarantine-rate-high"]), now=NOW - timedelta(minutes=1))

    again = evaluate(drill, ensure_rules(["quarantine-rate-high"]), now=NOW)

    assert again.firing == ["quarantine-rate-high"] and again.evaluation.events == []
    assert len(incidents_of(drill)) == 1


@pytest.mark.parametrize(
    ("check", "arguments", "message"),
    [
        (ensure_history, {"runs": 5}, "runs"),
        (ensure_history, {"every": "0s"}, "every"),
        (ensure_history, {"rows": 600, "colour": "red"}, "colour"),
        (
            ensure_expectation,
            {"rule": "quarantine-rate-hihg", "runbook": "quarantine-rate-spike"},
            "quarantine-rate-high",
        ),
        (ensure_expectation, {"rule": "duplicate-surge", "runbook": "Duplicate Surge"}, "runbook"),
        (
            ensure_expectation,
            {"rule": "duplicate-surge", "runbook": "duplicate-surge", "within_seconds": 0},
            "within_seconds",
        ),
    ],
)
def test_bad_arguments_are_refused_with_what_to_fix(check, arguments, message):
    with pytest.raises(ChaosError, match=message):
        check(**arguments)


def test_rules_are_the_defaults_or_the_named_ones():
    assert len(ensure_rules().rules) > 2
    assert [r.id for r in ensure_rules(["duplicate-surge", "duplicate-surge"]).rules] == ["duplicate-surge"]
    with pytest.raises(ChaosError, match="did you mean 'duplicate-surge'"):
        ensure_rules(["duplicate-surges"])
    with pytest.raises(ChaosError, match="no alert rule named"):
        ensure_rules([])
