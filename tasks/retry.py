"""Which failures are worth retrying: I/O hiccups, S3 5xx and throttling, timeouts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from prefect.cache_policies import NO_CACHE, CachePolicy
from prefect.tasks import RetryConditionCallable, exponential_backoff

from sluice.errors import SluiceError
from sluice.sources.files import unreachable

_TRANSIENT_WORDS = (
    "SlowDown",
    "Throttl",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "Connection reset",
    "timed out",
    "503",
    "500 ",
    "502",
    "504",
)


def is_transient(exc: BaseException | None) -> bool:
    """True for errors a retry may cure; Sluice's own errors only when they say so (``transient``)."""
    if exc is None:
        return False
    if isinstance(exc, SluiceError):
        return exc.transient
    if unreachable(exc):
        return True
    text = f"{type(exc).__name__}: {exc}"
    return any(word in text for word in _TRANSIENT_WORDS)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """A Prefect ``retry_condition_fn``: retry only transient failures."""
    try:
        state.result(raise_on_failure=True)
    except BaseException as exc:  # noqa: BLE001 - the state carries any exception
        return is_transient(exc)
    return False


class Retries(TypedDict):
    """Retry settings as ``@task(..., **TRANSIENT_RETRIES)`` keyword arguments."""

    retries: int
    retry_delay_seconds: Callable[[int], list[float]]
    retry_jitter_factor: float
    retry_condition_fn: RetryConditionCallable
    cache_policy: CachePolicy


# Three retries with jittered exponential backoff, of transient failures only.
TRANSIENT_RETRIES: Retries = dict(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
