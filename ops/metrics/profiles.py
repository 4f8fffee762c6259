"""Column profiles as metrics: one sample per figure, column and run, stamped at the run's finish.

Series are labelled ``dataset``, ``column`` and ``environment`` (quantiles
also ``q``, code shares ``value``, schema events ``change`` and ``type``):

* ``sluice_column_null_rate``, ``sluice_column_distinct``,
  ``sluice_column_min``, ``sluice_column_max``, ``sluice_column_mean``,
  ``sluice_column_stddev``, ``sluice_column_quantile{q}``,
  ``sluice_column_top_share{value}`` (share of the non-null rows),
  ``sluice_column_length_min|mean|max``, ``sluice_column_true_share``;
* ``sluice_column_present{type}``: 1 per column profiled, the schema the next
  run is compared with;
* ``sluice_schema_drift_columns``: per dataset and run, how many columns
  appeared, vanished or changed type since the previous profiled run, and
  ``sluice_schema_change{column,change,type}`` = 1 for each of them.

A code among the previous runs' top values (:data:`CODE_MEMORY` of them)
that a run no longer has is written with share 0, so that a vanishing code
is a drop in its series rather than a series that stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ops.metrics.models import Sample, Selector, to_ns
from ops.metrics.store import MetricsStore
from sluice.profile import ColumnProfile, TableProfile
from sluice.profile.schema import SchemaChange, schema_changes

NULL_RATE = "sluice_column_null_rate"
DISTINCT = "sluice_column_distinct"
MINIMUM = "sluice_column_min"
MAXIMUM = "sluice_column_max"
MEAN = "sluice_column_mean"
STDDEV = "sluice_column_stddev"
QUANTILE = "sluice_column_quantile"
TOP_SHARE = "sluice_column_top_share"
LENGTH_MIN = "sluice_column_length_min"
LENGTH_MEAN = "sluice_column_length_mean"
LENGTH_MAX = "sluice_column_length_max"
TRUE_SHARE = "sluice_column_true_share"
PRESENT = "sluice_column_present"
SCHEMA_DRIFT = "sluice_schema_drift_columns"
SCHEMA_CHANGE = "sluice_schema_change"
CODE_MEMORY = 12  # profiled runs a vanished code is still written (as 0) for
LOOKBACK = timedelta(days=30)  # how far back the previous profile is looked for
FIGURES = {
    NULL_RATE: "null_rate",
    DISTINCT: "distinct",
    MINIMUM: "minimum",
    MAXIMUM: "maximum",
    MEAN: "mean",
    STDDEV: "stddev",
    LENGTH_MIN: "length_min",
    LENGTH_MEAN: "length_mean",
    LENGTH_MAX: "length_max",
    TRUE_SHARE: "true_share",
}


@dataclass(frozen=True)
class PreviousProfile:
    """What the store holds of a dataset's earlier profiles: the last schema and the codes still watched."""

    schema: dict[str, str] = field(default_factory=dict)
    codes: dict[str, set[str]] = field(default_factory=dict)


def column_labels(dataset: str, environment: str, column: str, **extra: str) -> dict[str, str]:
    return {"dataset": dataset, "column": column, "environment": environment, **extra}


def _latest_instants(series_times: list[list[int]], before_ns: int, count: int) -> list[int]:
    instants = sorted({t for times in series_times for t in times if t < before_ns})
    return instants[-count:]


def previous_profile(store: MetricsStore, dataset: str, environment: str, before: datetime) -> PreviousProfile:
    """The schema of the dataset's last profile before ``before``, and the codes of its last profiles."""
    matchers = f'dataset="{_quoted(dataset)}",environment="{_quoted(environment)}"'
    start, end = before - LOOKBACK, before - timedelta(microseconds=1)
    present = store.query_range(Selector.parse(f"{PRESENT}{{{matchers}}}"), start, end)
    end_ns = to_ns(before)
    last = _latest_instants([s.timestamps.tolist() for s in present], end_ns, 1)
    schema = {
        s.labels["column"]: s.labels.get("type", "") for s in present if last and last[0] in set(s.timestamps.tolist())
    }
    shares = store.query_range(Selector.parse(f"{TOP_SHARE}{{{matchers}}}"), start, end)
    watched = set(_latest_instants([s.timestamps.tolist() for s in shares], end_ns, CODE_MEMORY))
    codes: dict[str, set[str]] = {}
    for s in shares:
        seen = [v for t, v in zip(s.timestamps.tolist(), s.values.tolist(), strict=True) if t in watched]
        if any(v > 0 for v in seen):
            codes.setdefault(s.labels["column"], set()).add(s.labels.get("value", ""))
    return PreviousProfile(schema, codes)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _column_samples(c: ColumnProfile, labels: dict[str, str], at: datetime, codes: set[str]) -> list[Sample]:
    values: list[tuple[str, dict[str, str], float | None]] = [
        (metric, labels, getattr(c, attr)) for metric, attr in FIGURES.items()
    ]
    values += [(QUANTILE, {**labels, "q": f"{q:g}"}, v) for q, v in c.quantiles.items()]
    if c.top is not None:
        shares = c.top_shares(limit=len(c.top))
        shares.update({code: 0.0 for code in codes if code not in shares})
        values += [(TOP_SHARE, {**labels, "value": code}, share) for code, share in shares.items()]
    values.append((PRESENT, {**labels, "type": c.type}, 1.0))
    return [Sample(m, lab, at, float(v)) for m, lab, v in values if v is not None and math.isfinite(float(v))]


def profile_samples(
    profile: TableProfile, dataset: str, environment: str, at: datetime, previous: PreviousProfile
) -> tuple[list[Sample], list[SchemaChange]]:
    """The samples of one run's profile (stamped ``at``) and its schema changes since ``previous``."""
    samples: list[Sample] = []
    for c in profile.columns:
        labels = column_labels(dataset, environment, c.name)
        samples += _column_samples(c, labels, at, previous.codes.get(c.name, set()))
    changes = schema_changes(previous.schema, profile.schema)
    drift = {"dataset": dataset, "environment": environment}
    samples.append(Sample(SCHEMA_DRIFT, drift, at, float(len(changes))))
    for change in changes:
        labels = column_labels(dataset, environment, change.column, change=change.change.value)
        samples.append(Sample(SCHEMA_CHANGE, {**labels, "type": change.after or change.before or ""}, at, 1.0))
    return samples, changes
