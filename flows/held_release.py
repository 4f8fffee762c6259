"""Releasing held rows from a flow: after an ingestion's commit, and on the maintenance schedule.

Each release is a run record of its own (flow ``release-held``, source ``held:DATASET``), written here;
the work is :func:`sluice.ingest_held.release_dataset`, exactly once under the dataset's lease.
"""

from __future__ import annotations

from prefect import get_run_logger

from sluice.errors import SluiceError
from sluice.ingest_held import release_dataset, to_release
from sluice.lake import staging, staging_runs
from sluice.runs.records import RunReport, ensure_conserved
from sluice.settings import Settings
from sluice.validate.contracts import Contract
from tasks.records import record_run


def release_after(
    settings: Settings, report: RunReport, contract: Contract, run_dir: staging.StagePath
) -> list[RunReport]:
    """Release the held rows a commit of ``contract``'s dataset may free (its own, its children's); one record each.

    A release that fails is logged and left for the next run or maintenance: the rows stay held.
    """
    return release_each(settings, report, to_release(contract, settings.contracts_root()), run_dir)


def release_each(
    settings: Settings, report: RunReport, contracts: list[Contract], run_dir: staging.StagePath
) -> list[RunReport]:
    """Release the held rows of each of ``contracts`` (a failure is logged and does not stop the others)."""
    reports = []
    for contract in contracts:
        try:
            released = release_dataset(settings, report, contract, run_dir / "_held" / contract.name)
        except SluiceError as exc:
            get_run_logger().error("%s: held rows not released (%s); the next run tries again", contract.name, exc)
            continue
        if released is not None:
            ensure_conserved(released)  # a release that does not add up fails the run, unrecorded
            record_run(released, settings.metadata_db_url())
            reports.append(released)
    return reports


def release_after_stream(settings: Settings, report: RunReport, contract: Contract) -> list[RunReport]:
    """:func:`release_after` for a run with no staging folder of its own (streams, change capture): one is made."""
    if not to_release(contract, settings.contracts_root()):
        return []
    root = staging.location(settings.staging_location(), settings.lake_storage_options)
    run_dir, _ = staging_runs.open_run(root, report.run_id, stale_hours=settings.staging_stale_hours)
    try:
        return release_after(settings, report, contract, run_dir)
    finally:
        staging.remove_run(run_dir)
