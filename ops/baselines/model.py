"""A fitted baseline: what was learned about one series, and the band it implies.

The expected value at time ``t`` is ``level + profile(t)``, where the profile
(the sum of the seasonal components over the longest period) is read at the
phase of ``t`` counted from the epoch: interpolated linearly between slot
centres, or held across each slot, whichever fitted the history better.
The band is ``expected -/+ z * scale``. For a counter the baseline describes
its per-second rate, and so does the band.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

DAY = 86_400.0
WEEK = 7 * DAY
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Baseline:
    """One series' baseline, as persisted (see :mod:`.registry`)."""

    metric: str
    labels: dict[str, str]
    model: str  # none | daily | weekly | daily+weekly
    method: str  # median | stl
    seasons: tuple[str, ...]  # seasons detected (may list daily under a weekly model)
    slot_seconds: float
    step_seconds: float
    profile: np.ndarray  # one value per slot over the longest period; [0.0] for no season
    level: float
    scale: float  # robust sigma of the remainder (1.4826 * MAD), floored
    counter: bool
    points: int
    coverage: float  # share of slots in the training window that held a point
    train_start: datetime
    train_end: datetime
    fitted_at: datetime
    backtest: dict[str, float] = field(default_factory=dict)  # candidate -> median absolute error
    version: int = 0
    rebaselined_at: datetime | None = None
    smooth: bool = True  # interpolate the profile between slot centres (else hold each slot's value)

    @property
    def key(self) -> str:
        from ops.metrics.models import labels_key

        return f"{self.metric}{labels_key(self.labels)}"

    def expected(self, seconds: np.ndarray) -> np.ndarray:
        """The expected value at each instant (seconds since the epoch)."""
        return expected_values(
            self.profile, self.level, self.slot_seconds, np.asarray(seconds, dtype=float), self.smooth
        )

    def band(self, seconds: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lower, expected, upper)`` at each instant for a band of ``z`` robust sigmas."""
        expected = self.expected(seconds)
        return expected - z * self.scale, expected, expected + z * self.scale

    def shifted(self, delta: float, at: datetime) -> Baseline:
        """The same baseline with its level moved by ``delta`` (a confirmed level shift)."""
        return replace(self, level=self.level + delta, rebaselined_at=at)


def slot_position(
    seconds: np.ndarray, slot: float | np.ndarray, smooth: bool | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The slot number ``k`` of each instant and its weight ``frac`` toward slot ``k + 1``.

    Smooth profiles interpolate linearly between slot centres (a wave has no
    steps); stepped ones hold each slot's value across it (a level that
    changes on the hour changes at once).
    """
    u = seconds / slot - np.where(smooth, 0.5, 0.0)
    k = np.floor(u)
    frac = np.where(smooth, u - k, 0.0)
    return k.astype(np.int64), frac


def expected_values(
    profile: np.ndarray, level: float | np.ndarray, slot: float | np.ndarray, seconds: np.ndarray, smooth: bool = True
) -> np.ndarray:
    """``level + profile`` at the phase of each instant (see :func:`slot_position`)."""
    span = len(profile)
    k, frac = slot_position(seconds, slot, smooth)
    expected: np.ndarray = level + (1.0 - frac) * profile[k % span] + frac * profile[(k + 1) % span]
    return expected
