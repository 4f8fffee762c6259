"""Correlation around an incident: the window from a real embedded store, the result on the incident's timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ops.correlate.service import (
    Scope,
    correlate_scope,
    incident_scope,
    postmortem_section,
    record_on_incident,
    record_once,
    timeline_text,
)
from ops.errors import CorrelateInputError
from ops.incidents.db import open_engine, transaction
from ops.incidents.models import ONSET
from ops.incidents.service import ensure_incident, record, trigger
from ops.metrics.models import Selector
from ops.metrics.store import open_store
from ops.metrics.timerange import parse_duration
from tests.ops.correlate.factories import as_series, fault_frame
from tests.ops.factories import sluice_home
from tests.ops.incidents.factories import failure

LABELS = {"flow": "ingest-files", "dataset": "orders", "host": "h1", "environment": "dev"}


def seeded(monkeypatch, tmp_path, culprit="db_cpu", size=40.0):
    settings = sluice_home(monkeypatch, tmp_path)
    fault = fault_frame(culprit=culprit, size=size)
    store = open_store(home=settings.home)
    store.write_series(as_series(fault, LABELS) + as_series(fault_frame(seed=9), {**LABELS, "dataset": "other"}))
    return store, fault


def test_the_store_window_of_a_scope_ranks_the_fault_first(monkeypatch, tmp_path):
    store, fault = seeded(monkeypatch, tmp_path)
    scope = Scope(fault.failure_at, {"flow": "ingest-files", "dataset": "orders"}, "test")

    frame, result = correlate_scope(store, scope, before=timedelta(minutes=30), after=timedelta(minutes=10))

    assert result.suspects[0].metric == "sluice_host_db_cpu" and result.suspects[0].resource == "cpu"
    assert result.series == 6 and frame.rows == 600  # the other dataset's series are out of scope
    assert result.suspects[0].labels["dataset"] == "orders"


def test_nothing_in_scope_is_a_clear_error(monkeypatch, tmp_path):
    store, fault = seeded(monkeypatch, tmp_path)
    scope = Scope(fault.failure_at, {"dataset": "invoices"}, "test")

    with pytest.raises(CorrelateInputError, match=r'no metrics match .*dataset="invoices"'):
        correlate_scope(store, scope, before=timedelta(minutes=30), after=timedelta(minutes=10))


def test_the_timeline_entry_names_the_top_suspect_and_its_resource(monkeypatch, tmp_path):
    store, fault = seeded(monkeypatch, tmp_path, culprit="web_mem", size=3e8)
    engine = open_engine(f"sqlite:///{tmp_path / 'incidents.db'}")
    with transaction(engine) as session:
        incident = trigger(session, failure(at=fault.failure_at)).incident
        scope = incident_scope(incident)
        _, result = correlate_scope(store, scope, before=timedelta(minutes=30), after=timedelta(minutes=10))
        record_on_incident(session, incident, result)
    with transaction(engine) as session:
        events = ensure_incident(session, 1).timeline

    text = events[-1].text
    assert events[-1].kind == "correlation" and events[-1].source == "ops"
    assert text.startswith("correlation: top suspect sluice_host_web_mem (resource=memory); 1. sluice_host_web_mem")
    assert "2. " in text and "3. " in text and "4. " not in text
    assert scope.failure_at == fault.failure_at and scope.labels == {"flow": "ingest-files", "dataset": "orders"}


def test_an_alert_incidents_failure_time_is_when_its_trouble_began(monkeypatch, tmp_path):
    _, fault = seeded(monkeypatch, tmp_path)
    engine = open_engine(f"sqlite:///{tmp_path / 'incidents.db'}")
    with transaction(engine) as session:
        incident = trigger(session, failure(at=fault.failure_at + timedelta(minutes=3))).incident
        record(session, incident, ONSET, "alert", "trouble began", at=fault.failure_at)
        session.flush()
        scope = incident_scope(ensure_incident(session, incident.id))

    assert scope.failure_at == fault.failure_at and scope.alerted_at == fault.failure_at + timedelta(minutes=3)


def test_the_same_finding_goes_on_the_timeline_once(monkeypatch, tmp_path):
    store, fault = seeded(monkeypatch, tmp_path)
    engine = open_engine(f"sqlite:///{tmp_path / 'incidents.db'}")
    with transaction(engine) as session:
        incident = trigger(session, failure(at=fault.failure_at)).incident
        _, result = correlate_scope(
            store, incident_scope(incident), before=timedelta(minutes=30), after=timedelta(minutes=10)
        )
        first, again = record_once(session, incident, result), record_once(session, incident, result)
    with transaction(engine) as session:
        events = [e for e in ensure_incident(session, 1).timeline if e.kind == "correlation"]

    assert (first, again) == (True, False)
    assert len(events) == 1


def test_postmortem_section_lists_suspects_with_their_reasons(monkeypatch, tmp_path):
    store, fault = seeded(monkeypatch, tmp_path)
    _, result = correlate_scope(
        store, Scope(fault.failure_at, {"dataset": "orders"}), before=timedelta(hours=1), after=timedelta(hours=1)
    )

    section = postmortem_section(result, top=2)

    assert section.startswith("**Correlation** with the failure at")
    assert "1. `sluice_host_db_cpu` (resource cpu" in section and "robust σ" in section
    assert timeline_text(result).startswith("correlation: top suspect sluice_host_db_cpu (resource=cpu)")


HOST_ONLY = {"host": "h1", "environment": "dev"}


def host_level(monkeypatch, tmp_path, scoped_rows: int = 0):
    """A store with the sampler service's host-level series (the fault in db_cpu) and, when asked, the first
    ``scoped_rows`` rows of the run's own series: a run whose sampler stopped long before the failure."""
    settings = sluice_home(monkeypatch, tmp_path)
    fault = fault_frame()
    store = open_store(home=settings.home)
    store.write_series(as_series(fault, HOST_ONLY) + as_series(fault_frame(seed=3), {**HOST_ONLY, "host": "h2"}))
    if scoped_rows:
        early = fault_frame(rows=scoped_rows, failure=scoped_rows // 2, seed=5)
        store.write_series(as_series(early, LABELS))
    return store, fault


@pytest.mark.parametrize("scoped_rows", [0, 40], ids=["no-run-series", "run-series-ended-long-before"])
def test_a_scope_without_usable_series_ranks_the_host_level_series_of_its_host_and_says_so(
    monkeypatch, tmp_path, scoped_rows
):
    store, fault = host_level(monkeypatch, tmp_path, scoped_rows)
    monkeypatch.setattr("socket.gethostname", lambda: "h1")
    scope = Scope(fault.failure_at, {"flow": "ingest-files", "dataset": "orders"}, "INC-3")

    _, result = correlate_scope(store, scope, before=timedelta(minutes=30), after=timedelta(minutes=10))

    assert result.suspects[0].metric == "sluice_host_db_cpu" and result.suspects[0].resource == "cpu"
    assert {s.labels.get("host") for s in result.suspects} == {"h1"}  # h2 is another host
    (said,) = result.notes
    assert 'dataset="orders"' in said and "host-level series of h1" in said
    assert timeline_text(result).endswith(f"[{said}]")
    assert f"_{said}_" in postmortem_section(result)


def test_the_host_of_the_scopes_own_series_is_the_one_read(monkeypatch, tmp_path):
    store, fault = host_level(monkeypatch, tmp_path, scoped_rows=40)
    monkeypatch.setattr("socket.gethostname", lambda: "h2")  # ops runs elsewhere; the run ran on h1

    _, result = correlate_scope(
        store, Scope(fault.failure_at, {"dataset": "orders"}), before=timedelta(minutes=30), after=timedelta(minutes=10)
    )

    assert result.suspects[0].labels["host"] == "h1" and "of h1 instead" in result.notes[0]


def test_a_selector_given_is_not_replaced_by_host_level_series(monkeypatch, tmp_path):
    store, fault = host_level(monkeypatch, tmp_path)
    scope = Scope(fault.failure_at, {"dataset": "orders"})

    with pytest.raises(CorrelateInputError, match=r"no metrics match sluice_host_db_cpu\{dataset=\"orders\"\}"):
        correlate_scope(
            store,
            scope,
            before=timedelta(minutes=30),
            after=timedelta(minutes=10),
            selector=Selector.parse("sluice_host_db_cpu"),
        )


def test_too_short_a_history_before_the_failure_hints_a_longer_before_in_the_options_terms(monkeypatch, tmp_path):
    store, fault = host_level(monkeypatch, tmp_path)
    monkeypatch.setattr("socket.gethostname", lambda: "h1")

    with pytest.raises(CorrelateInputError, match="too short a window") as info:
        correlate_scope(store, Scope(fault.failure_at), before=timedelta(seconds=1), after=timedelta(minutes=10))

    hint = str(info.value.hint)
    assert "host-level" not in str(info.value)  # a scope without labels reads them already
    assert hint.startswith("add --before 3s (about 2 more rows: 2s at one row per 1s)")
    before = parse_duration(hint.split()[2])
    _, result = correlate_scope(store, Scope(fault.failure_at), before=before, after=timedelta(minutes=10))
    assert result.rows > 0  # what the hint says to add is enough


def test_a_store_that_holds_too_little_before_the_failure_says_to_keep_the_sampler_running(monkeypatch, tmp_path):
    store, _ = host_level(monkeypatch, tmp_path)
    monkeypatch.setattr("socket.gethostname", lambda: "h1")
    early = fault_frame().time_of(2)

    with pytest.raises(CorrelateInputError, match="too short a window: 13 rows, 2 before") as info:
        correlate_scope(store, Scope(early), before=timedelta(minutes=30), after=timedelta(seconds=10))

    assert "the store holds these series only from 2026-03-05T10:00:00+00:00" in str(info.value.hint)
    assert "`ops metrics sampler status`" in str(info.value.hint)


def test_a_sampler_started_a_minute_before_the_failure_is_enough_history_for_the_host_level_series(
    monkeypatch, tmp_path
):
    settings = sluice_home(monkeypatch, tmp_path)
    fault = fault_frame(rows=18, failure=13)  # 13 samples before the failure, fewer than 20 in all
    open_store(home=settings.home).write_series(as_series(fault, HOST_ONLY))
    monkeypatch.setattr("socket.gethostname", lambda: "h1")
    scope = Scope(fault.failure_at, {"flow": "ingest-files", "dataset": "orders"}, "INC-3")

    _, result = correlate_scope(
        open_store(home=settings.home), scope, before=timedelta(minutes=30), after=timedelta(minutes=10)
    )

    assert result.suspects[0].metric == "sluice_host_db_cpu"
    assert not any("robust σ" in said for said in result.notes)  # a 40-unit step is strong evidence


def test_when_no_series_moved_far_the_result_says_the_cause_may_lie_elsewhere(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    quiet = fault_frame(size=0.0)  # background noise only
    open_store(home=settings.home).write_series(as_series(quiet, HOST_ONLY))
    store = open_store(home=settings.home)

    window = {"before": timedelta(minutes=30), "after": timedelta(minutes=10)}
    _, result = correlate_scope(store, Scope(quiet.failure_at), **window)

    (said,) = result.notes
    assert said.startswith("no series moved 3 robust σ") and "`ops incident show`" in said
