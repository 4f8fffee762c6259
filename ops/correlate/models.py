"""What correlation reads and returns: a wide frame of metrics, suspects and their evidence.

Times inside a :class:`WideFrame` are int64 nanoseconds since the epoch (UTC),
as in :class:`ops.metrics.models.Series`; values are one row per series
(``values[j]`` is series ``names[j]``), so that every statistic runs along
contiguous memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np

Timing = Literal["leading", "simultaneous", "lagging"]
Direction = Literal["up", "down", "flat"]


@dataclass(frozen=True)
class CorrelateConfig:
    """The method's settings. One set serves every dataset: nothing here is tuned per case.

    Args:
        min_rows: rows the window needs in all.
        min_before: rows it needs before the failure (the baseline); at one row a minute a
            failure often has only a few.
        short_before: a baseline of fewer rows than this is named as short in every suspect's evidence.
        segment_share: shortest segment a change point may leave on either side, as a share of the rows.
        timing_tolerance: a change within this share of the rows (at least 2 rows) of the failure is simultaneous.
        max_lag_share: cross-correlation lags go up to this share of the rows either way.
        down_weight: a resource whose usage fell is weighted by this (exhaustion makes usage rise).
            Strong, because a series still to the page reaches z in the tens of thousands: a worker
            that returned 400 MB to the system must not outrank the CPU hog next to it.
        lagging_weight: a change after the failure is weighted by this (more likely an effect): what an
            alert sets off (a run it starts, a restart) can move a resource far more than the fault did.
        leading_weight: a change well before the failure (beyond ``timing_tolerance``) is weighted by
            this: a fault shows at the failure, and a series that moved long before it is more
            likely an earlier incident still inside the window.
        symptom_weight: a symptom metric (latency, load: no resource) of a service one of whose own
            resources rose at the failure is weighted by this: the resource is the cause, the
            symptom its effect.
        origin_power: a latency that rose at the failure by a smaller share of its baseline than another
            is weighted by ``(its share / the largest share) ** origin_power``: a caller's latency
            carries its callee's delay, on a larger baseline.
        z_cap: for a symptom (no resource) whose baseline sat still (no MAD: flat, or sparse with
            a few spikes) the robust z counts up to this much in the score (the evidence keeps the full z): its
            z rests on a floor, and a near-zero latency must not win on the size of its quotient.
        granger_top: how many of the best suspects get a Granger test (a target is needed).
        granger_max_lag: the longest lag, in rows, the Granger test tries.
        granger_rows: the Granger test reads at most this many rows, those nearest the failure.
        granger_alpha: significance level of the Granger test, after a Bonferroni correction over lags.
        granger_weight: a significant Granger test multiplies the score by this.
        failure_grace_seconds: a failure this long after the last row still counts as inside the data
            (a flow's sampler stops a moment before its failure is recorded).
        material_change: a resource whose level moved by less than this share of its baseline is
            discounted by ``change / material_change``: a flat memory series that grew by a few
            pages, or a host's memory that grew by 1 %, is far from its own tiny noise (thousands of
            robust standard deviations when it sat still to the page), but it is not what ran out.
    """

    min_rows: int = 8
    min_before: int = 3
    short_before: int = 10
    segment_share: float = 0.05
    timing_tolerance: float = 0.02
    max_lag_share: float = 0.2
    down_weight: float = 0.1
    material_change: float = 0.05
    lagging_weight: float = 0.25
    leading_weight: float = 0.3
    symptom_weight: float = 0.5
    z_cap: float = 30.0
    origin_power: float = 1.0
    granger_top: int = 5
    granger_max_lag: int = 5
    granger_rows: int = 2000
    granger_alpha: float = 0.05
    granger_weight: float = 1.25
    failure_grace_seconds: float = 0.0


@dataclass(frozen=True)
class Skipped:
    """A column left out of the ranking, and why."""

    column: str
    reason: str


@dataclass
class WideFrame:
    """Metrics on one time axis: ``times`` (n,) int64 ns, ascending; ``values`` (series, n) float64, NaN missing.

    ``labels`` holds each column's labels (empty for CSV columns); ``rate`` flags
    columns that were counters and now hold per-second rates; ``skipped``
    lists columns already left out; ``ended`` holds, per column, the row after
    its last value before gaps were filled (``rows`` for a series that reports to the end); ``began``
    the row of its first value (0 for a series that reports from the start).
    """

    times: np.ndarray
    names: list[str]
    values: np.ndarray
    labels: list[dict[str, str]] = field(default_factory=list)
    rate: np.ndarray | None = None
    skipped: list[Skipped] = field(default_factory=list)
    ended: np.ndarray | None = None
    began: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype="int64")
        self.values = np.asarray(self.values, dtype="float64").reshape(len(self.names), len(self.times))
        if not self.labels:
            self.labels = [{} for _ in self.names]
        if self.rate is None:
            self.rate = np.zeros(len(self.names), dtype=bool)
        if self.ended is None:
            self.ended = np.full(len(self.names), len(self.times), dtype=int)
        if self.began is None:
            self.began = np.zeros(len(self.names), dtype=int)

    @property
    def rows(self) -> int:
        return len(self.times)

    def column(self, name: str) -> int:
        return self.names.index(name)

    def select(self, keep: np.ndarray) -> WideFrame:
        """The frame with only the columns where ``keep`` is True (skips carried over)."""
        idx = np.flatnonzero(keep)
        assert self.rate is not None and self.ended is not None and self.began is not None
        return WideFrame(
            self.times,
            [self.names[i] for i in idx],
            self.values[idx],
            [self.labels[i] for i in idx],
            self.rate[idx],
            list(self.skipped),
            self.ended[idx],
            self.began[idx],
        )


@dataclass(frozen=True)
class Correlation:
    """Lagged cross-correlation with the failure signal (a step at the failure) or the target.

    ``lag_seconds`` > 0: the suspect moves first, by that much.
    """

    signal: str
    r: float
    lag_seconds: float


@dataclass(frozen=True)
class Granger:
    """Whether the suspect's past helps predict the target (statsmodels' SSR F test)."""

    tested: bool
    p_value: float | None = None
    lag_rows: int | None = None
    significant: bool = False
    note: str = ""


@dataclass(frozen=True)
class Evidence:
    """Why a suspect ranks where it does. ``factors`` multiply to the score."""

    z: float
    direction: Direction
    baseline: float
    level: float
    peak_z: float
    change_at: datetime
    change_offset_seconds: float
    timing: Timing
    correlation: Correlation
    granger: Granger | None
    rate: bool
    factors: dict[str, float]
    reasons: list[str]


@dataclass(frozen=True)
class Suspect:
    metric: str
    score: float
    resource: str | None
    labels: dict[str, str]
    evidence: Evidence


@dataclass(frozen=True)
class CorrelationResult:
    """Suspects best first, the columns skipped, and the window that was read."""

    failure_at: datetime
    target: str | None
    suspects: list[Suspect]
    skipped: list[Skipped]
    start: datetime
    end: datetime
    rows: int
    series: int
    seconds: float
    notes: tuple[str, ...] = ()
    """What the reader should know about the window (host-level series read in place of the scope's)."""

    @property
    def top(self) -> Suspect | None:
        return self.suspects[0] if self.suspects else None
