"""A contract's consumers: who reads the dataset, and the freshness and accuracy each of them needs.

Example, in a contract::

    consumers:
      - name: finance-dashboard
        freshness: 2h               # the newest data is at most this old
        max_quarantined_share: 0.01 # of a run's rows read, at most this share quarantined
      - name: ml-features
        freshness: 1d
        max_orphan_rate: 0.001      # of a run's rows read, at most this share with an unknown parent

``ops sla report`` reads the run records against these thresholds
(:mod:`sluice.runs.sla`) and tells who was let down, when and for how long.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from sluice.validate.contract_parts import DURATION, UNITS

CONSUMER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class Consumer(BaseModel):
    """One consumer of a dataset and its thresholds; a threshold left out is not promised."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    freshness: timedelta | None = None
    max_quarantined_share: float | None = Field(default=None, ge=0, le=1)
    max_orphan_rate: float | None = Field(default=None, ge=0, le=1)

    @field_validator("name")
    @classmethod
    def _name_is_a_slug(cls, value: str) -> str:
        if not CONSUMER_NAME.fullmatch(value):
            raise ValueError(f"consumer name {value!r}: use letters, digits, '.', '_' and '-' (at most 100)")
        return value

    @field_validator("freshness", mode="before")
    @classmethod
    def _parse_duration(cls, value: object) -> object:
        if isinstance(value, str) and not value.startswith("P"):
            match = DURATION.match(value)
            if not match:
                raise ValueError(f"freshness {value!r} must look like 30m, 6h, 1d or 2w")
            return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
        return value

    @field_validator("freshness")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("freshness must be positive")
        return value


def unique_consumers(consumers: list[Consumer]) -> list[Consumer]:
    """``consumers`` if no name repeats, else ``ValueError`` naming the repeats."""
    names = [c.name for c in consumers]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"consumer(s) named twice: {', '.join(repeated)}")
    return consumers


Consumers = Annotated[list[Consumer], AfterValidator(unique_consumers)]
