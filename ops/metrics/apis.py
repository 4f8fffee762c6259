"""API source metrics: requests, throttling, waits, quota use, token renewals and secret rotations per sync.

An ``ingest-api`` run writes, per API and at its end (failed runs too):
``sluice_api_requests`` (requests sent), ``sluice_api_throttled`` (429 and
503 answers), ``sluice_api_wait_seconds`` (waited for the budget, a
``Retry-After`` or a quota reset), ``sluice_api_token_renewals`` and
``sluice_api_secret_rotations``, and, when the API states its quota
(``X-RateLimit-*``) or the description sets a shared daily quota,
``sluice_api_quota_used_ratio`` (0 to 1, the larger of the two): the
``api-quota-nearly-exhausted`` rule reads it. Labels: ``api`` and ``environment``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ops.metrics.models import Sample

API_REQUESTS = "sluice_api_requests"
API_THROTTLED = "sluice_api_throttled"
API_WAIT_SECONDS = "sluice_api_wait_seconds"
API_TOKEN_RENEWALS = "sluice_api_token_renewals"
API_SECRET_ROTATIONS = "sluice_api_secret_rotations"
API_QUOTA_USED = "sluice_api_quota_used_ratio"
API_METRICS = (API_REQUESTS, API_THROTTLED, API_WAIT_SECONDS, API_TOKEN_RENEWALS, API_SECRET_ROTATIONS, API_QUOTA_USED)


@dataclass(frozen=True)
class ApiUse:
    """What one run asked of an API."""

    api: str
    requests: int
    retries: int
    throttled: int
    waited_s: float
    renewals: int
    rotations: int
    quota_used: float | None  # the share of the API's stated quota used (None: the API states none)


def api_samples(use: ApiUse, now: datetime, *, environment: str) -> list[Sample]:
    labels = {"api": use.api, "environment": environment}
    samples = [
        Sample(API_REQUESTS, labels, now, use.requests),
        Sample(API_THROTTLED, labels, now, use.throttled),
        Sample(API_WAIT_SECONDS, labels, now, use.waited_s),
        Sample(API_TOKEN_RENEWALS, labels, now, use.renewals),
        Sample(API_SECRET_ROTATIONS, labels, now, use.rotations),
    ]
    if use.quota_used is not None:
        samples.append(Sample(API_QUOTA_USED, labels, now, use.quota_used))
    return samples
