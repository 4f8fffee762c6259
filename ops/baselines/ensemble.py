"""The anomaly score of ``ops baseline score``: three complementary causal detectors, combined.

* the robust-residual novelty score of :mod:`.detector` (a deviation from a
  seasonal, level-tracking forecast, larger than the series' recent extremes),
  taken before its own suppression;
* range novelty (:func:`.spatial.range_novelty`): a value beyond the range the
  series has covered so far;
* pattern novelty (:func:`.spatial.pattern_novelty`): a short shape of
  discretised values the series has never produced before.

The combined score is ``max(robust_weight * robust, range_weight * range,
pattern_weight * pattern)``, and then, as in :mod:`.detector`, damped by ``suppress_factor`` for
``suppress_rows`` rows after a row at ``suppress_level`` or more, so one event
alerts once, early. Each part is causal, so the combination is: scoring a
prefix gives the prefix of the scores. The settings below are the ones chosen
by leave-one-category-out cross-validation on the NAB development corpus
(``bench/nab.py``); the fleet's dynamic thresholds keep :mod:`.detector` alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ops.baselines.detector import Detection, DetectorConfig, detect, suppress
from ops.baselines.spatial import PatternConfig, RangeConfig, pattern_novelty, range_novelty


@dataclass(frozen=True)
class EnsembleConfig:
    """Settings of the combined score (weights of 0 leave a part out)."""

    robust: DetectorConfig = field(default_factory=lambda: DetectorConfig(z_min=5.0))
    range: RangeConfig = field(default_factory=RangeConfig)
    pattern: PatternConfig = field(default_factory=PatternConfig)
    robust_weight: float = 0.8
    range_weight: float = 1.0
    pattern_weight: float = 0.65
    suppress_rows: int = 200
    suppress_level: float = 0.6
    suppress_factor: float = 0.8


@dataclass(frozen=True)
class EnsembleParts:
    """The unsuppressed scores of every part, one entry per row, and the robust detector's details."""

    robust: Detection
    range: np.ndarray
    pattern: np.ndarray


def robust_part(timestamps: np.ndarray, values: np.ndarray, config: DetectorConfig) -> Detection:
    """The robust-residual detector's output without its own suppression (the ensemble suppresses once, at the end)."""
    return detect(timestamps, values, replace(config, suppress_rows=0))


def finite(values: np.ndarray) -> np.ndarray:
    """``values`` as floats, with infinities as NaN (missing)."""
    x = np.asarray(values, dtype=float)
    return np.where(np.isfinite(x), x, np.nan)


def score_parts(timestamps: np.ndarray, values: np.ndarray, config: EnsembleConfig = EnsembleConfig()) -> EnsembleParts:
    """Every part's score before combination (a part with weight 0 is not computed: zeros)."""
    x = finite(values)
    robust = robust_part(timestamps, x, config.robust)
    none = np.zeros(len(x))
    ranged = range_novelty(x, config.range) if config.range_weight > 0 else none
    patterned = pattern_novelty(x, config.pattern) if config.pattern_weight > 0 else none
    return EnsembleParts(robust, ranged, patterned)


def combine(robust: np.ndarray, ranged: np.ndarray, patterned: np.ndarray, config: EnsembleConfig) -> np.ndarray:
    """``max`` of the weighted part scores, then suppression after a detection; in [0, 1]."""
    score = np.fmax(config.robust_weight * robust, config.range_weight * ranged)
    score = np.clip(np.fmax(score, config.pattern_weight * patterned), 0.0, 1.0)
    damp = DetectorConfig(
        suppress_rows=config.suppress_rows,
        suppress_level=config.suppress_level,
        suppress_factor=config.suppress_factor,
    )
    return suppress(score, damp)


def score_ensemble(timestamps: np.ndarray, values: np.ndarray, config: EnsembleConfig = EnsembleConfig()) -> np.ndarray:
    """Anomaly score in [0, 1] for every row, in arrival order (see the module docstring)."""
    parts = score_parts(timestamps, values, config)
    return combine(parts.robust.score, parts.range, parts.pattern, config)
