"""Erasure and retention wired to the settings: the lake, the metadata store (holds, leases) and the home."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date, datetime, timezone

from sluice.lake.lease import hold_lease, holder_name
from sluice.lake.manifest_write import manifest_writer
from sluice.lake.table import table_uri
from sluice.paths import is_dataset_name
from sluice.retention.certificate import Certificate, list_certificates, save_certificate
from sluice.retention.erasure import QUARANTINE, ErasureRequest, Lakeside, Lock, complete_pending, erase
from sluice.retention.holds import Hold, list_holds
from sluice.retention.policies import RetentionOutcome, apply_retention
from sluice.runs.metastore import engine_for
from sluice.settings import Settings
from sluice.validate.contracts import available_contracts, find_contract


def lakeside(settings: Settings) -> Lakeside:
    return Lakeside(
        lake_root=settings.lake_root(),
        quarantine_root=settings.quarantine_root(),
        contracts_root=settings.contracts_root(),
        home=settings.home,
        storage_options=dict(settings.lake_storage_options),
    )


def active_holds(settings: Settings) -> list[Hold]:
    with engine_for(settings.metadata_db_url()).begin() as conn:
        return list_holds(conn)


def lease_lock(settings: Settings, holder: str) -> Lock:
    """A dataset's commit lease, held while a delete commits, so ingestion of that dataset takes turns with it."""

    @contextlib.contextmanager
    def lock(dataset: str) -> Iterator[object]:
        with hold_lease(
            engine_for(settings.metadata_db_url()),
            dataset,
            holder_name(holder),
            ttl_s=settings.lease_ttl_seconds,
            wait_s=settings.lease_wait_seconds,
        ) as held:
            yield held

    return lock


def run_erasure(settings: Settings, request: ErasureRequest) -> Certificate:
    """Erase under the datasets' leases, sign a manifest of each dataset's delete, and save the certificate.

    Raises:
        ErasureBlockedError: a legal hold covers a place where the subject was found (nothing is deleted).
        ConfigError: manifests must be signed and the signing key cannot be loaded (nothing is deleted).
    """
    writer = manifest_writer(settings)
    cert = erase(lakeside(settings), request, active_holds(settings), lease_lock(settings, "erasure"))
    opts = dict(settings.lake_storage_options)
    for place in cert.places:
        if place.table != QUARANTINE:  # the quarantine keeps no manifests, as at ingestion
            writer.record(place.table, place.uri, place.deleted_in_version, opts)
    save_certificate(settings.home, cert)
    return cert


def retention_pass(settings: Settings, today: date) -> list[RetentionOutcome]:
    """Apply every dataset's retention policy (each delete under the dataset's lease, its manifest signed)."""
    writer = manifest_writer(settings)
    holds = active_holds(settings)
    lock = lease_lock(settings, "retention")
    opts = dict(settings.lake_storage_options) or None
    outcomes = []
    for name in available_contracts(settings.contracts_root()):
        if not is_dataset_name(name):
            continue
        contract = find_contract(name, settings.contracts_root())
        if contract.partition.retention is None:
            outcomes.append(RetentionOutcome(name))
            continue
        uri = table_uri(settings.lake_root(), name)
        with lock(name):
            outcome = apply_retention(contract, uri, holds, today, opts)
            if outcome.rows_deleted:
                writer.record(name, uri, outcome.version, opts or {})
        outcomes.append(outcome)
    return outcomes


def complete_certificates(settings: Settings, now: datetime | None = None) -> list[str]:
    """Complete the pending certificates whose retention has passed; returns the ids completed."""
    moment = now or datetime.now(timezone.utc)
    done = []
    opts = dict(settings.lake_storage_options) or None
    for cert in list_certificates(settings.home):
        if cert.complete:
            continue
        updated = complete_pending(cert, moment, opts)
        if updated != cert:
            save_certificate(settings.home, updated)
        if updated.complete:
            done.append(updated.certificate_id)
    return done
