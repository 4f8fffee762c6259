"""Erasure and retention deletes are lake commits like any other: each gets a signed manifest that verifies."""

from __future__ import annotations

from datetime import date

from sluice.lake.manifest_keys import trusted_keys
from sluice.lake.manifest_verify import verify
from sluice.retention.erasure import ErasureRequest
from sluice.retention.service import retention_pass, run_erasure
from sluice.retention.subjects import ensure_subject
from sluice.settings import get_settings
from tests.sluice.lake.manifests import signing_key
from tests.sluice.retention.conftest import JANE
from tests.sluice.retention.lake import customers, ingest, write_contracts


def _verified(dataset: str, uri: str, version: int) -> tuple[str, list[str], str]:
    settings = get_settings()
    found = verify(uri, dataset, version, None, trusted_keys(settings.manifests), require_signature=True)
    return found.status, found.problems, str(found.manifest)


def test_each_datasets_erasure_delete_has_a_signed_manifest_that_verifies(filled, monkeypatch, tmp_path):
    signing_key(monkeypatch, tmp_path / "signing")
    cert = run_erasure(get_settings(), ErasureRequest([ensure_subject(f"email={JANE}")], "r", vacuum_now=True))

    deletes = [p for p in cert.places if p.table != "quarantine" and p.deleted_in_version is not None]
    assert {p.table for p in deletes} == {"customers", "tickets"}
    for place in deletes:
        status, problems, where = _verified(place.table, place.uri, place.deleted_in_version)
        assert (status, problems) == ("verified", []), where  # signed by a trusted key: require_signature


def test_a_retention_delete_has_a_signed_manifest_that_verifies(home, monkeypatch, tmp_path):
    write_contracts(tmp_path / "contracts", customer_retention="30d")
    ingest(home, "customers", customers(["old@example.com"], day="2026-01-10"))
    ingest(home, "customers", customers(["new@example.com"], start=2, day="2026-02-20"))
    signing_key(monkeypatch, tmp_path / "signing")

    outcome = next(o for o in retention_pass(get_settings(), date(2026, 3, 1)) if o.dataset == "customers")

    assert outcome.rows_deleted == 1 and outcome.version is not None
    status, problems, _where = _verified("customers", f"{home.lake_root()}/customers", outcome.version)
    assert (status, problems) == ("verified", [])
