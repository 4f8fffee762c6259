"""Erasure under a concurrent ingest, and with hostile subject values: only the subject's rows ever go."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import ConfigError
from sluice.retention import erasure
from sluice.retention.erasure import ErasureRequest
from sluice.retention.service import run_erasure
from sluice.retention.subjects import MAX_VALUE_BYTES, ensure_subject
from tests.sluice.retention.conftest import JANE, fill
from tests.sluice.retention.lake import customers, every_version, holds_value, ingest

HOSTILE = [
    "' OR '1'='1",
    "x'); DROP TABLE customers; --",
    '"email" = "email"',
    "bob@example.com' OR email <> '",
    "%",
    "_",
    "\\",
    "\u202eevil\u0000nul",
    "ünïcødé@例え.jp",
    "a" * (MAX_VALUE_BYTES - 1),
]


def _emails(settings) -> list[str]:
    return sorted(
        pa.table(DeltaTable(f"{settings.lake_root()}/customers").to_pyarrow_table()).column("email").to_pylist()
    )


def test_an_ingest_running_during_the_erasure_neither_resurrects_the_subject_nor_loses_rows(filled):
    added = [f"new{i}@example.com" for i in range(8)]
    errors: list[BaseException] = []

    def ingest_more() -> None:
        try:
            for i, email in enumerate(added):
                ingest(filled, "customers", customers([email], start=100 + i, day="2026-02-01"), tag=f"new{i}")
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    writer = threading.Thread(target=ingest_more)
    writer.start()
    cert = run_erasure(filled, ErasureRequest([ensure_subject(f"email={JANE}")], "r", vacuum_now=True))
    writer.join()

    assert errors == []
    assert _emails(filled) == sorted(["bob@example.com", "carl@example.com", *added])
    assert "customers" in {p.table for p in cert.places}
    assert not any(holds_value(t, JANE) for t in every_version(f"{filled.lake_root()}/customers").values())


def test_a_quarantine_entry_written_while_the_erasure_deletes_is_erased_too(filled, monkeypatch):
    real, rounds = erasure._delete_quarantine, []

    def racing(found, opts):  # an ingest quarantines one more of Jane's rows after the erasure's scan
        if not rounds:
            late = {"ticket_id": "T9", "opened": "2026-02-04", "contact": JANE, "priority": 8}
            ingest(filled, "tickets", [late], tag="late")
        rounds.append(found)
        return real(found, opts)

    monkeypatch.setattr(erasure, "_delete_quarantine", racing)
    cert = run_erasure(filled, ErasureRequest([ensure_subject(f"email={JANE}")], "r", vacuum_now=True))

    assert len(rounds) == 2  # the scan after the first delete found the late entry
    quarantine = pa.table(DeltaTable(filled.quarantine_root()).to_pyarrow_table())
    assert not holds_value(quarantine, JANE)
    assert holds_value(quarantine, "bob@example.com")  # only the subject's entries went
    (place,) = [p for p in cert.places if p.table == "quarantine"]
    assert place.rows == 2


@pytest.fixture(scope="module")
def shared_lake(tmp_path_factory):
    """One filled lake for all the hostile examples (none of them matches, so it never changes)."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("hostile")
    from sluice.settings import get_settings
    from tests.sluice.retention.lake import write_contracts

    mp.setenv("SLUICE_HOME", str(root / "home"))
    mp.setenv("SLUICE_CONTRACTS_DIR", str(write_contracts(root / "contracts")))
    for var in ("SLUICE_LAKE_URI", "SLUICE_QUARANTINE_URI", "SLUICE_METADATA_URL", "SLUICE_STAGING_DIR"):
        mp.delenv(var, raising=False)
    current = get_settings(fresh=True)
    fill(current)
    yield current
    mp.undo()
    get_settings(fresh=True)


def _sizes(settings) -> dict[str, int]:
    uris = [f"{settings.lake_root()}/{t}" for t in ("customers", "orders", "tickets")] + [settings.quarantine_root()]
    return {u: DeltaTable(u).to_pyarrow_dataset().count_rows() for u in uris}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=300)))
def test_hostile_subject_values_delete_nothing_else(shared_lake, value):
    if value in (JANE, "bob@example.com", "carl@example.com") or (len(value) >= 3 and value in JANE):
        return  # a real subject (or part of one, found inside a raw source line) is no hostile value
    before = _sizes(shared_lake)

    cert = run_erasure(
        shared_lake, ErasureRequest([ensure_subject(f"email={value}"), ensure_subject(f"customer_id={value}")], "r")
    )

    assert cert.places == [] and _sizes(shared_lake) == before


@pytest.mark.parametrize("text", ["email", "=x", "email=", "email=" + "a" * (MAX_VALUE_BYTES + 1)])
def test_malformed_or_huge_subjects_are_refused_with_a_hint(text):
    with pytest.raises(ConfigError) as refused:
        ensure_subject(text)
    assert refused.value.hint


def test_a_subject_value_made_of_sql_is_erased_exactly_when_it_is_the_stored_value(home):
    nasty = "x'); DELETE FROM customers; --@example.com"
    ingest(home, "customers", customers([nasty, "bob@example.com"]))

    cert = run_erasure(home, ErasureRequest([ensure_subject(f"email={nasty}")], "r", vacuum_now=True))

    assert [p.rows for p in cert.places] == [1] and _emails(home) == ["bob@example.com"]


def test_two_erasures_at_once_each_remove_their_subject_and_keep_everyone_else(filled):
    from concurrent.futures import ThreadPoolExecutor

    def erase(value: str):
        return run_erasure(filled, ErasureRequest([ensure_subject(f"email={value}")], "r", vacuum_now=True))

    with ThreadPoolExecutor(2) as pool:
        certs = list(pool.map(erase, [JANE, "bob@example.com"]))

    assert all(c.complete and c.places for c in certs) and certs[0].certificate_id != certs[1].certificate_id
    assert _emails(filled) == ["carl@example.com"]
    tickets = every_version(f"{filled.lake_root()}/tickets").values()
    assert not any(holds_value(t, JANE) or holds_value(t, "bob@example.com") for t in tickets)
