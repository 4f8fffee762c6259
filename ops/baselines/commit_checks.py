"""The anomaly checks of a commit: rows written against the baseline of earlier runs, and a quarantine spike.

Both judge a run against the dataset's earlier runs (their run records,
oldest first) and say nothing until there are ``min_runs`` of them. Rows
written are scored by the streaming detector (:mod:`ops.baselines.detector`),
the same one behind the dynamic alert thresholds: the run is the series' newest
row, and an anomaly score at or above ``max_score`` fails it. The quarantined
share fails when it is both ``factor`` times the usual (median) share and at
least ``floor`` above it, so a dataset that never quarantines does not fail on
one bad row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ops.baselines.detector import score_series
from sluice.lake.verify import Check, Verdict
from sluice.runs.records import RunReport
from sluice.validate.contract_parts import VerifySpec


@dataclass(frozen=True)
class RunPoint:
    """What an anomaly check reads of one run."""

    at: datetime
    rows_read: int
    rows_written: int
    rows_quarantined: int

    @classmethod
    def of(cls, report: RunReport) -> RunPoint:
        return cls(
            report.finished_at or report.started_at, report.rows_read, report.rows_written, report.rows_quarantined
        )

    @property
    def quarantined_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


def _too_few(check: Check, earlier: list[RunPoint], spec: VerifySpec) -> Verdict | None:
    if len(earlier) < spec.min_runs:
        return Verdict(check, True, f"not judged: {len(earlier)} earlier run(s), the check needs {spec.min_runs}")
    return None


def check_row_count(run: RunPoint, earlier: list[RunPoint], spec: VerifySpec) -> Verdict:
    """Rows written by ``run`` against the baseline of the ``earlier`` runs (oldest first)."""
    if (waiting := _too_few(Check.ROW_COUNT, earlier, spec)) is not None:
        return waiting
    points = [*earlier, run]
    stamps = np.array([p.at.timestamp() for p in points])
    stamps = np.maximum.accumulate(stamps)  # runs recorded out of order keep the series in time order
    score = float(score_series(stamps, np.array([p.rows_written for p in points], dtype=float))[-1])
    usual = float(np.median([p.rows_written for p in earlier]))
    passed = score < spec.max_score
    return Verdict(
        Check.ROW_COUNT,
        passed,
        f"{run.rows_written:,} rows written against a usual {usual:,.0f}: anomaly score {score:.2f} "
        f"({'under' if passed else 'at or over'} {spec.max_score:.2f})",
    )


def check_quarantine_spike(run: RunPoint, earlier: list[RunPoint], spec: VerifySpec) -> Verdict:
    """The share of rows ``run`` quarantined against the usual share of the ``earlier`` runs."""
    if (waiting := _too_few(Check.QUARANTINE_SPIKE, earlier, spec)) is not None:
        return waiting
    usual = float(np.median([p.quarantined_share for p in earlier]))
    share = run.quarantined_share
    spike = share >= usual * spec.quarantine_factor and share - usual >= spec.quarantine_floor
    return Verdict(
        Check.QUARANTINE_SPIKE,
        not spike,
        f"{share:.1%} of {run.rows_read:,} rows quarantined against a usual {usual:.1%}"
        + (
            f" ({spec.quarantine_factor:g} times the usual or more, and {spec.quarantine_floor:.0%} above it)"
            if spike
            else ""
        ),
    )


def anomaly_verdicts(run: RunReport, earlier: list[RunReport], spec: VerifySpec) -> list[Verdict]:
    """The anomaly checks ``spec`` turns on, for ``run`` against ``earlier`` runs (oldest first)."""
    point, history = RunPoint.of(run), [RunPoint.of(r) for r in earlier]
    verdicts = []
    if spec.row_count:
        verdicts.append(check_row_count(point, history, spec))
    if spec.quarantine_spike:
        verdicts.append(check_quarantine_spike(point, history, spec))
    return verdicts
