"""Report figures on a scripted set of incidents with known times."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ops.incidents.db import transaction
from ops.reports.models import DurationStats
from ops.reports.service import build_report, tally
from tests.ops.incidents.factories import T0
from tests.ops.reports.factories import SIGNATURE, scripted_incidents

NOW = T0 + timedelta(days=10)
SINCE = NOW - timedelta(days=30)


def _report(incident_engine, **options):
    with transaction(incident_engine) as session:
        scripted_incidents(session, T0)
        return build_report(session, since=SINCE, now=NOW, **options)


def test_mtta_and_mttr_are_exact_means_and_medians_in_minutes(incident_engine):
    report = _report(incident_engine)

    assert report.incidents == 4 and report.open_incidents == 1 and not report.drills_included
    assert report.mtta == DurationStats(4, 8.75, 6.5)  # 2, 4, 9 and 20 (resolved without an acknowledgement)
    assert report.mttr.count == 3 and report.mttr.median_minutes == 30.0
    assert report.mttr.mean_minutes == pytest.approx(110 / 3)


def test_drills_count_only_when_asked(incident_engine):
    report = _report(incident_engine, include_drills=True)

    assert report.incidents == 5 and report.drills_included
    assert report.mtta == DurationStats(5, 7.2, 4.0)
    assert report.mttr == DurationStats(4, 28.75, 25.0)
    assert report.by_source["chaos-drill"] == 1


def test_incidents_are_counted_by_severity_source_and_flow(incident_engine):
    report = _report(incident_engine)

    assert report.by_severity == {"SEV1": 1, "SEV2": 2, "SEV3": 1, "SEV4": 0}
    assert report.by_source == {"alert": 1, "flow-failure": 2, "chaos-drill": 0, "manual": 1}
    assert list(report.by_flow.items()) == [("ingest-files", 2), ("(no flow)", 1), ("alerts-evaluate", 1)]


def test_repeat_offenders_are_keys_and_cross_key_signatures_opened_twice_in_the_period(incident_engine):
    offenders = _report(incident_engine).repeat_offenders

    assert [(o.by, o.key, o.refs) for o in offenders] == [
        ("signature", SIGNATURE, ("INC-3", "INC-5")),
        ("dedup_key", "A", ("INC-2", "INC-4")),
    ]
    assert offenders[1].first_opened_at == T0 and offenders[1].last_opened_at == T0 + timedelta(days=2)


def test_overdue_action_items_are_listed_whatever_the_age_of_their_incident(incident_engine):
    overdue = _report(incident_engine).overdue_actions

    assert [(a.incident, a.description, a.overdue) for a in overdue] == [("INC-1", "retry S3 reads", True)]


def test_an_empty_period_has_no_figures(incident_engine):
    with transaction(incident_engine) as session:
        report = build_report(session, since=SINCE, now=NOW)

    assert report.incidents == 0 and report.mtta == DurationStats(0, None, None)
    assert report.by_flow == {} and report.repeat_offenders == () and report.overdue_actions == ()


def test_tally_lists_the_named_values_first_then_the_rest_by_count():
    assert tally(["b", "c", "c", "x"], every=["a", "b"]) == {"a": 0, "b": 1, "c": 2, "x": 1}
