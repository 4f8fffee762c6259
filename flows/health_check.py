"""Flow ``health-check``: the ``ops doctor`` checks on a schedule; a failing check fails the run.

Deployed from ``prefect.yaml`` to run every ten minutes on the work pool, so
the checks see what a run on that worker sees: its settings, the Prefect API,
the Dask scheduler, the lake, quarantine and metadata store, the contracts,
the source databases and the stream brokers. When any check FAILs the run
fails with :class:`~ops.errors.HealthCheckFailedError` naming the failing
checks, and the failure hook (:mod:`flows.hooks`) opens an incident linked to
the ``health-check-failed`` runbook; while the same checks keep failing,
later runs add to that incident. WARN alone completes.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow

from flows.hooks import INCIDENT_HOOKS
from ops.doctor.models import CheckResult, Status
from ops.errors import HealthCheckFailedError
from tasks.health import doctor_checks


@dataclass(frozen=True)
class HealthReport:
    """What one health check found: every check's result (none FAIL, or the run would have failed)."""

    results: list[CheckResult]

    @property
    def warnings(self) -> list[str]:
        return [f"{r.name}: {r.detail}" for r in self.results if r.status is Status.WARN]


def failing(results: list[CheckResult]) -> list[str]:
    """The names of the failing checks, each once, in the order they ran."""
    return list(dict.fromkeys(r.name for r in results if r.status is Status.FAIL))


@flow(name="health-check", log_prints=False, **INCIDENT_HOOKS)
def health_check(slots: list[str] | None = None, publication: str | None = None) -> HealthReport:
    """Run the ``ops doctor`` checks; fail when one fails.

    ``slots`` and ``publication`` name what change capture's server (``SLUICE_CDC_DSN``) must hold, as
    ``ops doctor --slot/--publication`` do.

    Raises:
        HealthCheckFailedError: at least one check failed (the message names them; the run log has the details).
    """
    results = doctor_checks(tuple(slots or ()), publication)
    failed = failing(results)
    if failed:
        raise HealthCheckFailedError(f"{len(failed)} health check(s) failing: {', '.join(failed)}")
    return HealthReport(results)


if __name__ == "__main__":
    print(health_check())
