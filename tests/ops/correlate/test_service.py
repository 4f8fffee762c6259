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
    timeline_text,
)
from ops.errors import CorrelateInputError
from ops.incidents.db import open_engine, transaction
from ops.incidents.service import ensure_incident, trigger
from ops.metrics.store import open_store
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


def test_postmortem_section_lists_suspects_with_their_reasons(monkeypatch, tmp_path):
    store, fault = seeded(monkeypatch, tmp_path)
    _, result = correlate_scope(
        store, Scope(fault.failure_at, {"dataset": "orders"}), before=timedelta(hours=1), after=timedelta(hours=1)
    )

    section = postmortem_section(result, top=2)

    assert section.startswith("**Correlation** with the failure at")
    assert "1. `sluice_host_db_cpu` (resource cpu" in section and "robust σ" in section
    assert timeline_text(result).startswith("correlation: top suspect sluice_host_db_cpu (resource=cpu)")
