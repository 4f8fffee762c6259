"""Task of the ``health-check`` flow: run the ``ops doctor`` checks and log each result."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ops.doctor.models import CheckResult, Status
from ops.doctor.service import run_checks
from sluice.settings import get_settings


@task(name="doctor-checks", cache_policy=NO_CACHE)
def doctor_checks(slots: tuple[str, ...] = (), publication: str | None = None) -> list[CheckResult]:
    """Every check of ``ops doctor``, logged: OK at info, WARN and FAIL at warning with what to do next."""
    results = run_checks(get_settings(), slots=slots, publication=publication)
    log = get_run_logger()
    for result in results:
        if result.status is Status.OK:
            log.info("%s OK: %s", result.name, result.detail)
        else:
            log.warning("%s %s: %s; next: %s", result.name, result.status.value, result.detail, result.hint)
    return results
