"""Any text a trigger brings is stored unchanged on both stores, or refused with a reason: never a database error."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.errors import IncidentError
from ops.incidents.db import transaction
from ops.incidents.models import Status
from ops.incidents.service import ensure_incident, storable, transition, trigger
from tests.ops.incidents.factories import failure

TEXT = st.text(st.characters(codec="utf-8"), max_size=320) | st.sampled_from(["", " ", "\x00", "a\x00b", "x" * 201])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=TEXT, title=TEXT, text=TEXT)
def test_a_trigger_is_stored_as_given_or_refused_with_a_reason(incident_engine, key, title, text) -> None:
    try:
        t = failure(dedup_key=key, title=title, text=text)
    except IncidentError as exc:
        assert exc.hint
        return
    with transaction(incident_engine) as session:
        first, second = trigger(session, t), trigger(session, t)
    assert first.created and not second.created and first.incident.id == second.incident.id
    with transaction(incident_engine) as session:
        incident = ensure_incident(session, first.incident.id)
        assert (incident.dedup_key, incident.title, incident.occurrences) == (key, title, 2)
        assert [e.text for e in incident.timeline] == [text, text]
        transition(session, incident, Status.RESOLVED)  # the next example may bring the same key


@given(value=st.text(), limit=st.integers(1, 400))
def test_storable_keeps_what_fits_and_marks_what_it_changes(value, limit) -> None:
    stored = storable(value, limit)

    assert "\x00" not in stored and len(stored) <= limit
    if "\x00" not in value and len(value) <= limit:
        assert stored == value
    else:
        assert stored != value and ("\\x00" in stored or stored.endswith("…"))
