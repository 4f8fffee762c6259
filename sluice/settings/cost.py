"""The ``cost`` section: the rates ``ops report cost`` prices runs at. The defaults are placeholders to set."""

from __future__ import annotations

import math

from pydantic import Field, field_validator

from sluice.settings.sources import PREFIX, Section

PLACEHOLDER = " The default is a placeholder, not a price: set your own."


def ensure_rate(name: str, value: float) -> float:
    """``value`` if it is a finite rate of zero or more; else a ValueError naming ``name``."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"the rate of {name!r} is {value}: a rate is a finite number, zero or more")
    return value


def ensure_read_rates(rates: dict[str, float]) -> dict[str, float]:
    """Rates keyed ``kind`` or ``kind:region`` (``s3``, ``s3:eu-west-1``, ``postgresql``), none negative."""
    for key, value in rates.items():
        kind, _, region = key.partition(":")
        if not kind or (":" in key and not region):
            raise ValueError(f"read rate key {key!r} is not `kind` or `kind:region`")
        ensure_rate(key, value)
    return rates


class CostSettings(Section):
    """The rates of :mod:`ops.reports.cost`, per GB (10^9 bytes) and per hour, in one currency."""

    env_prefix = f"{PREFIX}COST_"
    title = "Cost rates"

    currency: str = Field(default="USD", min_length=1, max_length=8, description="The rates' currency, as shown.")
    read_per_gb: dict[str, float] = Field(
        default={"files": 0.0, "s3": 0.09, "postgresql": 0.01, "mariadb": 0.01},
        description=(
            "Price of a GB read, by source kind (`files`, `s3`, `postgresql`, `mariadb`) or `kind:region` "
            "(`s3:eu-west-1`), which wins over its kind; a kind absent here is priced at 0 and shown unpriced."
            + PLACEHOLDER
        ),
    )
    written_per_gb: float = Field(
        default=0.023, description="Price of a GB the lake's commits add (Delta add actions)." + PLACEHOLDER
    )
    cpu_hour: float = Field(default=0.05, description="Price of an hour of task CPU time." + PLACEHOLDER)
    memory_gb_hour: float = Field(
        default=0.005,
        description="Price of a GB of worker memory for an hour: the workers' memory times the run's wall time."
        + PLACEHOLDER,
    )

    @field_validator("read_per_gb")
    @classmethod
    def _read_rates(cls, value: dict[str, float]) -> dict[str, float]:
        return ensure_read_rates(value)

    @field_validator("written_per_gb", "cpu_hour", "memory_gb_hour")
    @classmethod
    def _rates(cls, value: float) -> float:
        return ensure_rate("rate", value)

    def read_rate(self, kind: str, region: str) -> float | None:
        """The rate of a GB read from ``kind`` in ``region``: ``kind:region``'s, else ``kind``'s, else None."""
        if region and f"{kind}:{region}" in self.read_per_gb:
            return self.read_per_gb[f"{kind}:{region}"]
        return self.read_per_gb.get(kind)
