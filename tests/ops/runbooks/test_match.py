"""Ranking runbooks for incidents, with reasons."""

from __future__ import annotations

from ops.incidents.signature import FailureSignature
from ops.runbooks.catalog import load_runbooks
from ops.runbooks.match import MatchContext, best, rank
from sluice.errors import SourceNotFoundError
from tests.ops.runbooks.factories import write_runbook


def books(tmp_path):
    write_runbook(tmp_path, "source-unreachable", rules="[run-failures]", exceptions="[SourceError, ConnectError]")
    write_runbook(tmp_path, "schema-drift", rules="[quarantine-rate-spike]", tags="[schema, missing_column]")
    write_runbook(tmp_path, "dask-worker-lost", exceptions="[KilledWorker]", tags="[memory, cpu]")
    return load_runbooks(tmp_path)


def test_an_alert_incident_matches_the_runbook_listing_its_rule(tmp_path) -> None:
    ctx = MatchContext.of(title="quarantine rate spike", source="alert", dedup_key="quarantine-rate-spike:0a1b")
    (top, *_) = rank(ctx, books(tmp_path))
    assert top.runbook_id == "schema-drift" and "alert rule quarantine-rate-spike is listed" in top.reasons


def test_a_failure_matches_through_a_base_class_and_explains_it(tmp_path) -> None:
    sig = FailureSignature.of("ingest-files", "list", SourceNotFoundError("no files under /drop/orders"))
    ranked = rank(MatchContext.of(signature=sig.text), books(tmp_path))
    assert ranked[0].runbook_id == "source-unreachable"
    assert "SourceNotFoundError is a SourceError, which is listed" in ranked[0].reasons


def test_dotted_exception_names_and_resources_count(tmp_path) -> None:
    found = books(tmp_path)
    assert best(MatchContext(exception_type="httpx.ConnectError"), found) == "source-unreachable"
    assert best(MatchContext(resource="memory"), found) == "dask-worker-lost"


def test_tags_found_in_the_message_add_a_point_each(tmp_path) -> None:
    ctx = MatchContext.of(title="3 files had a missing_column after a schema change")
    (top,) = rank(ctx, books(tmp_path))
    assert top.runbook_id == "schema-drift" and top.score == 2


def test_nothing_in_common_means_no_candidate(tmp_path) -> None:
    assert rank(MatchContext.of(title="coffee machine broken"), books(tmp_path)) == []


def test_a_flow_name_alone_links_the_triage_runbook_not_the_first_cause_by_id(tmp_path) -> None:
    write_runbook(tmp_path, "conservation-violation", exceptions="[ConservationError]", tags="[data-loss]")
    write_runbook(tmp_path, "flow-run-failed")
    found = books(tmp_path)
    sig = FailureSignature.of("ingest-files", None, RuntimeError("Nanny failed to start."))
    ctx = MatchContext.of(signature=sig.text, flow_name="ingest-files")
    assert rank(ctx, found)[0].runbook_id == "conservation-violation"  # ties on the flow, first by id
    assert all(c.evidence == 0 for c in rank(ctx, found))
    assert best(ctx, found) == "flow-run-failed"


def test_any_evidence_beats_the_triage_runbook(tmp_path) -> None:
    write_runbook(tmp_path, "flow-run-failed")
    found = books(tmp_path)
    sig = FailureSignature.of("ingest-files", "stage", RuntimeError("worker ran out of memory"))
    assert best(MatchContext.of(signature=sig.text, flow_name="ingest-files"), found) == "dask-worker-lost"


def test_without_a_triage_runbook_the_flow_match_is_linked(tmp_path) -> None:
    ctx = MatchContext.of(
        signature=FailureSignature.of("ingest-files", None, RuntimeError("boom")).text, flow_name="ingest-files"
    )
    assert best(ctx, books(tmp_path)) == "dask-worker-lost"


def test_the_shipped_catalog_sends_an_unknown_failure_to_triage() -> None:
    sig = FailureSignature.of("ingest-files", None, RuntimeError("Nanny failed to start."))
    assert best(MatchContext.of(signature=sig.text, flow_name="ingest-files"), load_runbooks()) == "flow-run-failed"


def test_a_run_that_could_not_take_a_concurrency_slot_links_the_prefect_api_runbook() -> None:
    from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError

    exc = ConcurrencySlotAcquisitionError("Unable to acquire concurrency slots on ['tag:chaos-drill']")
    sig = FailureSignature.of("ingest-files", "stage-file-group", exc)
    assert (
        best(MatchContext.of(signature=sig.text, flow_name="ingest-files"), load_runbooks())
        == "prefect-api-unreachable"
    )
