"""An API's daily quota shared by every flow run: a Prefect global concurrency limit with slot decay.

With ``limits.daily_quota`` set, each request first takes a slot of the global
concurrency limit ``api-<name>-daily`` (made on first use: ``daily_quota``
slots, decaying at ``daily_quota / 86400`` a second, so the quota refills over
a day). Every run of every flow against the API draws from the same slots,
wherever it runs. A slot not free within ``max_wait_s`` is a quota used up
(:class:`ApiQuotaExhausted`): the run stops after its last committed page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluice.errors import ApiQuotaExhausted

DAY_S = 86_400.0


def limit_name(api: str) -> str:
    return f"api-{api.replace('_', '-')}-daily"


@dataclass
class SharedQuota:
    api: str
    per_day: int
    max_wait_s: float
    taken: int = 0

    def __post_init__(self) -> None:
        self._ready = False

    @property
    def name(self) -> str:
        return limit_name(self.api)

    def ensure(self) -> None:
        """Make the global concurrency limit if there is none (and set its size and decay if they changed)."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            client.upsert_global_concurrency_limit_by_name(self.name, self.per_day, self.per_day / DAY_S)
        self._ready = True

    def take(self) -> None:
        """One slot for one request, waiting at most ``max_wait_s``."""
        from prefect.concurrency.sync import rate_limit

        if not self._ready:
            self.ensure()
        try:
            rate_limit(self.name, occupy=1, timeout_seconds=max(self.max_wait_s, 0.001), strict=True)
        except TimeoutError:
            raise ApiQuotaExhausted(
                f"API {self.api}: its daily quota of {self.per_day:,} requests is used up "
                f"(Prefect global concurrency limit {self.name!r}) for longer than the run may wait",
                hint="the run stopped after its last committed page; the next run resumes there "
                "(runbook api-quota-exhausted)",
            ) from None
        self.taken += 1

    def used_fraction(self) -> float | None:
        """The share of the quota the runs hold now (``None``: the limit cannot be read)."""
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        try:
            with get_client(sync_client=True) as client:
                found = client.read_global_concurrency_limit_by_name(self.name)
        except (ObjectNotFound, OSError):
            return None
        return min(1.0, found.active_slots / found.limit) if found.limit else None
