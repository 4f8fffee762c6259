"""Task ``profile-run``: profile the rows a run committed and write the profile to the metrics store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ops.metrics.models import utc
from ops.metrics.profiles import previous_profile, profile_samples
from ops.metrics.store import MetricsStore, open_store
from sluice.profile import TableProfile
from sluice.profile.commit import profile_commit
from sluice.runs.records import RunReport
from sluice.settings import MetricsBackend, get_settings


@dataclass(frozen=True)
class ProfileOutcome:
    """What a run's profile wrote: samples, the columns profiled and the schema changes found."""

    samples: int = 0
    columns: int = 0
    schema_changes: list[str] = field(default_factory=list)


def write_profile(
    store: MetricsStore, profile: TableProfile, dataset: str, environment: str, at: datetime
) -> ProfileOutcome:
    """Write one run's profile, stamped ``at``, compared with the dataset's profiles before ``at``."""
    previous = previous_profile(store, dataset, environment, utc(at))
    samples, changes = profile_samples(profile, dataset, environment, utc(at), previous)
    return ProfileOutcome(store.write(samples), len(profile.columns), [c.describe() for c in changes])


def record_profile(
    report: RunReport,
    lake_uri: str,
    storage_options: dict[str, str],
    store: MetricsStore,
    versions: list[int] | None = None,
) -> ProfileOutcome:
    """Profile the rows ``report``'s commits (``versions``, else its lake version) added and write them to ``store``.

    Nothing is written for a run that added no rows.
    """
    profile = profile_commit(lake_uri, versions or [report.lake_version], report.run_id, storage_options)
    if profile is None or profile.rows == 0:
        return ProfileOutcome()
    at = report.finished_at or datetime.now(timezone.utc)
    return write_profile(store, profile, report.dataset, report.env, at)


@task(name="profile-run", cache_policy=NO_CACHE)
def profile_run(
    report: RunReport, lake_uri: str, storage_options: dict[str, str], versions: list[int] | None = None
) -> ProfileOutcome:
    """The run's column profile into the embedded metrics store; a profile that fails is a warning on the run.

    ``versions`` are the table versions the run committed (a stream run commits one per batch); the run's lake
    version when omitted.
    """
    settings = get_settings()
    if settings.metrics.metrics_backend is MetricsBackend.PROMETHEUS:
        return ProfileOutcome()
    log = get_run_logger()
    try:
        store = open_store(settings.metrics, home=settings.home)
        outcome = record_profile(report, lake_uri, storage_options, store, versions)
    except Exception as exc:  # noqa: BLE001 - the rows are committed: a profile that fails never fails the run
        log.warning("%s: the column profile was not recorded: %s: %s", report.dataset, type(exc).__name__, exc)
        return ProfileOutcome()
    for change in outcome.schema_changes:
        log.warning("%s: schema drift: %s", report.dataset, change)
    return outcome
