"""Task ``verify-commit``: check a run's commit as its contract's ``verify:`` block asks, and roll it back if a
check fails (:mod:`sluice.lake.rollback`), under the dataset's lease."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE

from ops.baselines.commit_checks import anomaly_verdicts
from sluice.errors import CommitVerificationError
from sluice.lake.lease import hold_lease, holder_name
from sluice.lake.rollback import RollbackOutcome, RollbackRequest, restore
from sluice.lake.verify import Verdict, check_contract
from sluice.runs.metastore import engine_for, list_runs
from sluice.runs.records import RunReport, rows_changed
from sluice.settings import Settings, get_settings
from sluice.validate.contracts import Contract

HISTORY_FACTOR = 5  # earlier runs read: this many times the checks' min_runs


@dataclass(frozen=True)
class CommitReview:
    """The verdicts on a run's commit, and the rollback when one failed."""

    verdicts: list[Verdict]
    rollback: RollbackOutcome | None = None

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]

    @property
    def reason(self) -> str:
        return "; ".join(f"{v.check.value}: {v.reason}" for v in self.failed)

    def apply(self, report: RunReport) -> None:
        """Fail ``report`` with the reason; count its rows as rolled back if the rollback happened."""
        report.status, report.error = "failed", str(self.error(report.dataset, report.lake_version))
        if self.rollback is not None and self.rollback.restored:
            report.rows_rolled_back, report.rollback_version = rows_changed(report), self.rollback.version

    def error(self, dataset: str, version: int | None) -> CommitVerificationError:
        if self.rollback is not None and self.rollback.restored:
            done = f"rolled back to version {self.rollback.to_version} as version {self.rollback.version}"
        elif self.rollback is not None:
            later = ", ".join(str(v) for v in self.rollback.superseded_by)
            done = f"not rolled back: another writer committed version(s) {later} after it"
        else:
            done = "not rolled back: it created the table"
        return CommitVerificationError(f"{dataset}: commit {version} failed its verification ({self.reason}); {done}")


def _earlier(settings: Settings, report: RunReport, contract: Contract) -> list[RunReport]:
    """The dataset's earlier completed runs not rolled back, oldest first."""
    with engine_for(settings.metadata_db_url()).connect() as conn:
        runs = list_runs(conn, dataset=report.dataset, limit=contract.verify.min_runs * HISTORY_FACTOR)
    kept = [r for r in runs if r.run_id != report.run_id and r.status == "completed" and r.rollback_version is None]
    return list(reversed(kept))


def _verdicts(settings: Settings, report: RunReport, contract: Contract, uri: str) -> list[Verdict]:
    spec, options = contract.verify, dict(settings.lake_storage_options) or None
    verdicts = []
    if spec.contract and report.lake_version is not None:
        verdicts.append(check_contract(uri, report.lake_version, contract, options))
    if spec.row_count or spec.quarantine_spike:
        verdicts += anomaly_verdicts(report, _earlier(settings, report, contract), spec)
    return verdicts


def review_commit(settings: Settings, report: RunReport, contract: Contract, uri: str) -> CommitReview:
    """The verdicts on the version ``report`` committed; a failed one restores the version before it.

    Nothing is restored over a later commit of another writer, nor when the run's commit created the table.
    """
    verdicts = _verdicts(settings, report, contract, uri)
    review = CommitReview(verdicts)
    version = report.lake_version
    if not review.failed or version is None or version == 0:
        return review
    request = RollbackRequest(
        report.dataset,
        version - 1,
        review.reason,
        f"run {report.run_id}",
        expected_latest=version,
        run_id=report.run_id,
    )
    with hold_lease(
        engine_for(settings.metadata_db_url()),
        report.dataset,
        holder_name(report.run_id),
        ttl_s=settings.lease_ttl_seconds,
        wait_s=settings.lease_wait_seconds,
    ) as lease:
        outcome = restore(uri, request, lease=lease, storage_options=dict(settings.lake_storage_options) or None)
    return CommitReview(verdicts, outcome)


@task(name="verify-commit", cache_policy=NO_CACHE)
def verify_commit(report: RunReport, contract: Contract, uri: str) -> CommitReview:
    """Check the run's commit; roll it back if a check fails (see :func:`review_commit`)."""
    return review_commit(get_settings(), report, contract, uri)
