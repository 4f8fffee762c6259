"""Action items: validation, their lifecycle, and which are overdue."""

from __future__ import annotations

from datetime import date

import pytest

from ops.errors import ActionItemError
from ops.incidents.db import transaction
from ops.incidents.models import ActionType
from ops.incidents.service import trigger
from ops.postmortems.actions import (
    DONE,
    OPEN,
    ActionSummary,
    add_action,
    complete_action,
    ensure_action,
    ensure_action_type,
    ensure_due_date,
    ensure_tracker_url,
    is_overdue,
    list_actions,
)
from tests.ops.incidents.factories import failure
from tests.ops.postmortems.factories import minutes

TODAY = date(2026, 3, 10)


def _add(session, incident, due="2026-03-01", text="do it", **overrides):
    spec = {"type": "prevent", "owner": "bo", "due": due, "text": text} | overrides
    return add_action(session, incident, **spec)


def test_an_item_is_open_until_done_and_overdue_only_while_open(incident_engine):
    with transaction(incident_engine) as session:
        incident = trigger(session, failure()).incident
        item = _add(session, incident, "2026-03-09", tracker_url="https://tracker.example.com/OPS-1")
        assert item.status == OPEN and item.type is ActionType.PREVENT and item.due == date(2026, 3, 9)
        assert is_overdue(item, TODAY) and not is_overdue(item, date(2026, 3, 9))
        done = complete_action(session, ensure_action(session, f"#{item.id}"), at=minutes(60))
        assert done.status == DONE and done.done_at == minutes(60) and not is_overdue(done, TODAY)
        with pytest.raises(ActionItemError, match="already done"):
            complete_action(session, done)


def test_lists_filter_open_and_overdue_items_and_sort_by_due_date(incident_engine):
    with transaction(incident_engine) as session:
        incident = trigger(session, failure()).incident
        late = _add(session, incident, "2026-03-01", "late")
        later = _add(session, incident, "2026-04-01", "later")
        finished = _add(session, incident, "2026-02-01", "finished")
        undated = _add(session, incident, None, "undated")
        complete_action(session, finished)

        every = list_actions(session, today=TODAY)
        open_items = list_actions(session, today=TODAY, open_only=True)
        overdue = list_actions(session, today=TODAY, overdue_only=True)
        summaries = [ActionSummary.of(a, TODAY) for a in every]

    assert every == [finished, late, later, undated]
    assert open_items == [late, later, undated]
    assert overdue == [late]
    assert [s.overdue for s in summaries] == [False, True, False, False]
    assert summaries[1].incident == incident.ref


def test_lists_can_be_limited_to_one_incident(incident_engine):
    with transaction(incident_engine) as session:
        first = trigger(session, failure(0)).incident
        second = trigger(session, failure(1, dedup_key="other")).incident
        mine = _add(session, first, "2026-03-01")
        _add(session, second, "2026-03-01")

        assert list_actions(session, today=TODAY, incident=first) == [mine]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("type", "fix", "'fix' is not an action type"),
        ("due", "31/03/2026", "'31/03/2026' is not a date"),
        ("due", "2026-02-30", "'2026-02-30' is not a date"),
        ("tracker_url", "OPS-12", "'OPS-12' is not a tracker URL"),
        ("owner", "  ", "the action item needs an owner"),
        ("text", "", "the action item needs a text"),
    ],
)
def test_bad_fields_are_refused_with_what_a_good_one_looks_like(incident_engine, field, value, message):
    with transaction(incident_engine) as session:
        incident = trigger(session, failure()).incident
        with pytest.raises(ActionItemError) as info:
            _add(session, incident, **{field: value})

    assert str(info.value.args[0]) == message


def test_validators_accept_what_people_type():
    assert ensure_action_type(" Mitigate ") is ActionType.MITIGATE
    assert ensure_due_date("2026-03-31") == date(2026, 3, 31)
    assert ensure_tracker_url("  ") is None
    with pytest.raises(ActionItemError) as info:
        ensure_action_type("x")
    assert "mitigate, prevent, process" in info.value.hint


@pytest.mark.parametrize("ref", ["x", "#", "99"])
def test_unknown_action_items_are_refused(incident_engine, ref):
    with transaction(incident_engine) as session, pytest.raises(ActionItemError) as info:
        ensure_action(session, ref)

    assert info.value.hint


def test_concurrent_completions_of_one_item_mark_it_done_once(incident_engine):
    from ops.postmortems.actions import complete_action, ensure_action
    from tests.ops.incidents.storm import run_together

    with transaction(incident_engine) as session:
        item_id = _add(session, trigger(session, failure()).incident).id

    def done() -> str:
        with transaction(incident_engine) as session:
            return complete_action(session, ensure_action(session, item_id)).status

    outcomes = run_together([done] * 8)

    assert [o.value for o in outcomes].count("done") == 1
    assert {(o.error, "is already done" in o.message) for o in outcomes if o.error} == {("ActionItemError", True)}
