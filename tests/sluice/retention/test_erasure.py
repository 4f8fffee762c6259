"""Erasure: a subject in three datasets and the quarantine is gone from every version time travel can reach."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from sluice.errors import ErasureBlockedError
from sluice.retention.certificate import load_certificate
from sluice.retention.erasure import ErasureRequest
from sluice.retention.holds import add_hold, release_hold
from sluice.retention.service import complete_certificates, run_erasure
from sluice.retention.subjects import ensure_subject
from sluice.runs.metastore import engine_for
from sluice.settings import Settings
from tests.sluice.retention.conftest import JANE
from tests.sluice.retention.lake import every_version, holds_value

TABLES = ["customers", "orders", "tickets"]


def _request(*, vacuum_now: bool = True, retention_hours: int = 168) -> ErasureRequest:
    subjects = [ensure_subject(f"email={JANE}"), ensure_subject("customer_id=C000001")]
    return ErasureRequest(subjects, "request 2026-118", vacuum_now=vacuum_now, retention_hours=retention_hours)


def _uris(settings: Settings) -> dict[str, str]:
    return {**{t: f"{settings.lake_root()}/{t}" for t in TABLES}, "quarantine": settings.quarantine_root()}


def _jane_anywhere(settings: Settings) -> list[tuple[str, int]]:
    """(table, version) of every readable version that still holds Jane's e-mail or customer id."""
    return [
        (name, version)
        for name, uri in _uris(settings).items()
        for version, rows in every_version(uri).items()
        if holds_value(rows, JANE) or holds_value(rows, "C000001")
    ]


def _current(settings: Settings, name: str) -> pa.Table:
    return pa.table(DeltaTable(_uris(settings)[name]).to_pyarrow_table())


def test_the_subject_is_gone_from_every_reachable_version_and_the_certificate_lists_each_place(filled):
    assert {t for t, _v in _jane_anywhere(filled)} == {"customers", "orders", "tickets", "quarantine"}

    cert = run_erasure(filled, _request())

    assert _jane_anywhere(filled) == []
    places = {p.table: p for p in cert.places}
    assert set(places) == {"customers", "orders", "tickets", "quarantine"}
    assert (places["customers"].rows, places["orders"].rows, places["tickets"].rows) == (1, 2, 1)
    assert places["quarantine"].rows == 1 and places["quarantine"].datasets == ["tickets"]
    assert all(p.versions and p.deleted_in_version is not None and p.files_removed_at for p in cert.places)
    assert cert.complete and load_certificate(filled.home, cert.certificate_id) == cert
    # everyone else stays: Bob and Carl, Bob's order and ticket, Bob's quarantined ticket
    assert sorted(_current(filled, "customers").column("email").to_pylist()) == ["bob@example.com", "carl@example.com"]
    assert _current(filled, "orders").column("order_id").to_pylist() == [2]
    assert _current(filled, "tickets").column("ticket_id").to_pylist() == ["T3"]
    assert _current(filled, "quarantine").num_rows == 1


def test_the_certificate_names_the_subject_only_by_hash(filled):
    cert = run_erasure(filled, _request())

    text = (filled.home / "erasure" / f"{cert.certificate_id}.json").read_text(encoding="utf-8")
    assert JANE not in text and "C000001" not in text and json.dumps(JANE)[1:-1] not in text
    assert {s.sha256 for s in cert.subjects} == {s.digest for s in _request().subjects}


def test_a_second_erasure_of_the_same_subject_finds_nothing(filled):
    run_erasure(filled, _request())

    again = run_erasure(filled, _request())

    assert again.places == [] and again.status == "nothing found"


def test_without_vacuum_now_the_files_wait_for_the_retention_then_maintenance_completes_the_certificate(filled):
    cert = run_erasure(filled, _request(vacuum_now=False, retention_hours=1))

    assert cert.status == "pending vacuum" and all(p.pending_until for p in cert.places)
    assert {t for t, _v in _jane_anywhere(filled)} == {"customers", "orders", "tickets", "quarantine"}
    assert complete_certificates(filled) == []  # the retention has not passed

    later = datetime.now(timezone.utc) + timedelta(hours=2)
    assert complete_certificates(filled, later) == [cert.certificate_id]
    assert _jane_anywhere(filled) == []
    assert load_certificate(filled.home, cert.certificate_id).complete


@pytest.mark.parametrize("subject", [None, f"email={JANE}"], ids=["dataset-hold", "subject-hold"])
def test_a_hold_blocks_the_erasure_before_anything_is_deleted(filled, subject):
    engine = engine_for(filled.metadata_db_url())
    with engine.begin() as conn:
        hold = add_hold(conn, "tickets", "litigation 2026-7", ensure_subject(subject) if subject else None)
    before = {n: _current(filled, n).num_rows for n in _uris(filled)}

    with pytest.raises(ErasureBlockedError, match=f"{hold.hold_id}.*litigation 2026-7") as blocked:
        run_erasure(filled, _request())

    assert "ops hold release" in blocked.value.hint
    assert {n: _current(filled, n).num_rows for n in _uris(filled)} == before
    with engine.begin() as conn:
        release_hold(conn, hold.hold_id)
    assert run_erasure(filled, _request()).complete and _jane_anywhere(filled) == []


def test_holds_elsewhere_do_not_block(filled):
    with engine_for(filled.metadata_db_url()).begin() as conn:
        add_hold(conn, "customers", "another person", ensure_subject("email=bob@example.com"))
        add_hold(conn, "inventory", "a dataset the subject is not in")

    assert run_erasure(filled, _request()).complete


def test_a_column_named_by_a_glossary_synonym_of_the_subject_key_is_searched(filled, tmp_path):
    from tests.sluice.retention.lake import ingest

    contracts = filled.contracts_root()
    (contracts / "glossary.yaml").write_text(
        "terms:\n  - {name: email, owner: dpo@example.com, definition: An e-mail address., type: string,"
        " synonyms: [e_mail]}\n"
    )
    (contracts / "leads.yaml").write_text(
        "name: leads\nowner: sales@example.com\nfreshness_sla: 1d\nprimary_key: [lead_id]\n"
        "partition: {column: seen}\ncolumns:\n  - {name: lead_id, type: string}\n  - {name: seen, type: date}\n"
        "  - {name: e_mail, type: string}\n"
    )
    ingest(filled, "leads", [{"lead_id": "L1", "seen": "2026-02-01", "e_mail": JANE}])

    cert = run_erasure(filled, _request())

    assert {p.table: p.columns for p in cert.places}["leads"] == ["e_mail"]
    assert not any(holds_value(t, JANE) for t in every_version(f"{filled.lake_root()}/leads").values())
