"""Many writers at once on SQLite and PostgreSQL: one incident per cause, one page, only valid transitions."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from sqlalchemy.engine import Engine

from ops.alerts.events import AlertStatus
from ops.errors import TransitionError
from ops.incidents.db import transaction
from ops.incidents.models import Notification, Status
from ops.incidents.service import (
    ALLOWED,
    assign,
    ensure_incident,
    list_incidents,
    note,
    transition,
    trigger,
)
from ops.notify.delivery import deliver_pending
from tests.ops.incidents.factories import failure
from tests.ops.incidents.storm import (
    fail_once,
    move,
    run_together,
    storm_from_processes,
)

TRANSITION = re.compile(r"^(triggered|acknowledged|mitigated|resolved) -> (triggered|acknowledged|mitigated|resolved)$")
NAMES_A_STATUS = re.compile(r"INC-\d+ is (?:now |already )?(triggered|acknowledged|mitigated|resolved)\b")


def store_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def assert_one_incident_of(engine: Engine, failures: int) -> None:
    with transaction(engine) as session:
        (incident,) = list_incidents(session)
        incident = ensure_incident(session, incident.ref)
        kinds = [e.kind for e in incident.timeline]
        triggers = [n.channel for n in session.query(Notification).filter_by(action="trigger")]
    assert incident.occurrences == failures
    assert kinds.count("opened") == 1 and kinds.count("repeat") == failures - 1
    assert len(triggers) == len(set(triggers)) <= 2 and "pagerduty" in triggers  # one page (and one Slack post)


def test_fifty_simultaneous_failures_of_one_cause_are_one_incident_with_one_page(
    incident_engine, pagerduty, slack
) -> None:
    outcomes = run_together([lambda n=n: fail_once(incident_engine, n) for n in range(50)])

    assert [o.error for o in outcomes if o.error] == []
    assert [o.value for o in outcomes].count(True) == 1
    assert_one_incident_of(incident_engine, 50)
    deliver_pending(incident_engine)
    assert [r.json["event_action"] for r in pagerduty.requests] == ["trigger"]
    posts = slack.bodies()
    assert len([p for p in posts if "thread_ts" not in p]) == 1  # one Slack thread
    assert len(posts) == 6  # its first message, and replies at 2, 5, 10, 20 and 50 occurrences


def test_failures_from_several_processes_at_once_are_one_incident(incident_engine, pagerduty) -> None:
    outcomes = storm_from_processes(store_url(incident_engine), processes=5, threads=10)

    assert [(o.error, o.message) for o in outcomes if o.error] == []
    assert [o.value for o in outcomes].count(True) == 1 and len(outcomes) == 50
    assert_one_incident_of(incident_engine, 50)


def recorded_path(engine: Engine, ref: str) -> list[tuple[Status, Status]]:
    """The (from, to) of every transition on the timeline, in order."""
    with transaction(engine) as session:
        events = sorted(ensure_incident(session, ref).timeline, key=lambda e: (e.at, e.id))
    steps = []
    for event in events:
        if event.kind in {s.value for s in Status}:
            found = TRANSITION.match(event.text)
            assert found, event.text
            assert found[2] == event.kind
            steps.append((Status(found[1]), Status(found[2])))
    return steps


def test_twenty_concurrent_transitions_leave_only_a_valid_path(incident_engine) -> None:
    with transaction(incident_engine) as session:
        ref = trigger(session, failure()).incident.ref
    targets = [Status.ACKNOWLEDGED, Status.MITIGATED, Status.ACKNOWLEDGED, Status.RESOLVED, Status.MITIGATED] * 4

    outcomes = run_together(
        [lambda t=t, n=n: move(incident_engine, ref, t, f"oncall-{n}") for n, t in enumerate(targets)]
    )

    winners = [o for o in outcomes if o.error is None]
    losers = [o for o in outcomes if o.error is not None]
    assert {o.error for o in losers} <= {"TransitionError"}, losers
    assert all(NAMES_A_STATUS.search(o.message) for o in losers), [o.message for o in losers]
    path = recorded_path(incident_engine, ref)
    assert len(path) == len(winners) >= 1
    assert path[0][0] is Status.TRIGGERED
    for (_, before), (after, _target) in pairwise(path):
        assert before is after  # every recorded "from" is the real previous status
    assert all(target in ALLOWED[source] for source, target in path)
    with transaction(incident_engine) as session:
        incident = ensure_incident(session, ref)
    assert incident.status is path[-1][1]
    reached = {target for _, target in path}
    assert (incident.acknowledged_at is not None) == (Status.ACKNOWLEDGED in reached)
    assert (incident.mitigated_at is not None) == bool(reached & {Status.MITIGATED, Status.RESOLVED})
    assert (incident.resolved_at is not None) == (incident.status is Status.RESOLVED)


def test_concurrent_notes_are_all_kept_and_the_last_recorded_assignment_stands(incident_engine) -> None:
    with transaction(incident_engine) as session:
        ref = trigger(session, failure()).incident.ref

    def write(n: int) -> None:
        with transaction(incident_engine) as session:
            incident = ensure_incident(session, ref)
            if n % 2:
                note(session, incident, f"note {n}", who=f"oncall-{n}")
            else:
                assign(session, incident, f"oncall-{n}", who="lead")

    outcomes = run_together([lambda n=n: write(n) for n in range(20)])

    assert [(o.error, o.message) for o in outcomes if o.error] == []
    with transaction(incident_engine) as session:
        incident = ensure_incident(session, ref)
        events = sorted(incident.timeline, key=lambda e: (e.at, e.id))
    assert sorted(e.text for e in events if e.kind == "note") == sorted(f"note {n}" for n in range(1, 20, 2))
    assignments = [e.text for e in events if e.kind == "assign"]
    assert len(assignments) == 10 and assignments[-1] == f"assigned to {incident.assignee}"


def acknowledge_elsewhere(engine: Engine, ref: str) -> None:
    """Another person's ``ops incident ack``, committed in a transaction of its own."""
    move(engine, ref, Status.ACKNOWLEDGED, "someone-else")


def test_a_transition_decided_on_a_stale_status_is_refused_with_the_current_one(postgres_incident_engine) -> None:
    incident_engine = postgres_incident_engine
    with transaction(incident_engine) as session:
        ref = trigger(session, failure()).incident.ref

    with pytest.raises(TransitionError) as refused, transaction(incident_engine) as session:
        incident = ensure_incident(session, ref)  # triggered, as read here
        acknowledge_elsewhere(incident_engine, ref)
        transition(session, incident, Status.MITIGATED, who="ana")

    assert str(refused.value.args[0]).startswith(f"{ref} is now acknowledged")
    assert recorded_path(incident_engine, ref) == [(Status.TRIGGERED, Status.ACKNOWLEDGED)]


def test_an_alert_resolving_while_someone_moves_the_incident_is_kept_as_a_fact(
    postgres_incident_engine, monkeypatch
) -> None:
    from ops.respond import sink as sink_module
    from ops.respond.sink import IncidentSink
    from tests.ops.respond.test_sink import alert

    incident_engine = postgres_incident_engine
    sink = IncidentSink(incident_engine, "dev")
    sink.emit(alert(AlertStatus.FIRING))
    read = sink_module.open_incident_for

    def read_then_lose_the_race(session, key):
        found = read(session, key)
        acknowledge_elsewhere(incident_engine, found.ref)
        return found

    monkeypatch.setattr(sink_module, "open_incident_for", read_then_lose_the_race)
    sink.emit(alert(AlertStatus.RESOLVED, 30))

    with transaction(incident_engine) as session:
        (incident,) = list_incidents(session)
        incident = ensure_incident(session, incident.ref)
    assert incident.status is Status.ACKNOWLEDGED
    kinds = [e.kind for e in incident.timeline]
    assert "mitigated" not in kinds and kinds.count("alert") == 1 and kinds.count("acknowledged") == 1
