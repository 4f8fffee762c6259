"""The ``completeness:`` policy of a contract: compare what landed with the control totals the source states.

A source that can state control totals (a manifest file beside a file drop,
a database's ``count(*)`` of a key range or a cursor interval in the read's
snapshot, the messages a stream
batch's positions span: :mod:`sluice.sources.streams.totals`) is compared
with what a run read (:mod:`sluice.runs.completeness`). The policy says what
a disagreement does:

- ``strict``: the run fails with :class:`sluice.errors.CompletenessError`; a file, key range, cursor
  interval or stream batch whose totals disagree (or, for files and tables, that has none) is not committed;
- ``warn``: the rows land, and the run records the disagreement as a warning;
- ``off`` (the default): nothing is compared.

``completeness: strict`` is short for ``completeness: {policy: strict}``; the long
form can name a numeric column whose sum is compared too (``sum: amount``).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator


class CompletenessPolicy(StrEnum):
    STRICT = "strict"
    WARN = "warn"
    OFF = "off"


class CompletenessSpec(BaseModel):
    """What a disagreement with the source's control totals does, and which column's sum is compared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: CompletenessPolicy = CompletenessPolicy.OFF
    sum: str | None = None  # a numeric column whose total the source states too

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        return {"policy": value} if isinstance(value, str) else value

    @property
    def on(self) -> bool:
        return self.policy is not CompletenessPolicy.OFF
