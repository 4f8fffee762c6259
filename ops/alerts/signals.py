"""Which points of a series are anomalous under a rule: static threshold, fitted baseline or the detector.

* **static**: beyond the threshold in the rule's direction, by at least the
  minimum deviation;
* **baseline** (dynamic, the series has a fitted baseline): outside the
  baseline's band of ``z`` robust sigmas (:mod:`ops.baselines.evaluate`),
  which also re-baselines a confirmed level shift;
* **detector** (dynamic, no fitted baseline yet): the streaming detector of
  :mod:`ops.baselines.detector` runs over the rule's history; a point outside
  its causal band ``forecast -/+ z * scale`` (robust level and season from
  past points only, MAD scale) is anomalous. A series with fewer points than
  the detector needs is reported as *insufficient*, never as fine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ops.alerts.rules import Direction, Rule
from ops.baselines.detector import DetectorConfig, detect
from ops.baselines.evaluate import BandCheck, check_bands
from ops.baselines.model import Baseline
from ops.baselines.service import pair_with_baselines
from ops.metrics.models import Series


@dataclass(frozen=True)
class Signal:
    """One series under one rule, per point."""

    metric: str
    labels: dict[str, str]
    source: str  # static | baseline | detector | insufficient
    seconds: np.ndarray
    values: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    anomalous: np.ndarray
    shifted: Baseline | None = None


def _sided(rule: Rule, deviation: np.ndarray, outside_above: np.ndarray, outside_below: np.ndarray) -> np.ndarray:
    big = np.abs(deviation) >= rule.min_deviation
    if rule.direction is Direction.ABOVE:
        outside = outside_above
    elif rule.direction is Direction.BELOW:
        outside = outside_below
    else:
        outside = outside_above | outside_below
    sided: np.ndarray = outside & big
    return sided


def static_signals(rule: Rule, fleet: Sequence[Series]) -> list[Signal]:
    if rule.threshold.static is None:
        raise ValueError(f"rule {rule.id} has a dynamic threshold")
    threshold = rule.threshold.static
    out = []
    for s in fleet:
        x = s.values
        flags = _sided(rule, x - threshold, x > threshold, x < threshold)
        upper = np.full(len(x), threshold if rule.direction is not Direction.BELOW else np.inf)
        lower = np.full(len(x), threshold if rule.direction is not Direction.ABOVE else -np.inf)
        out.append(
            Signal(
                s.metric,
                s.labels,
                "static",
                s.timestamps / 1e9,
                x,
                np.full(len(x), np.nan),
                lower,
                upper,
                flags & np.isfinite(x),
            )
        )
    return out


def dynamic_signals(
    rule: Rule, fleet: Sequence[Series], baselines: Sequence[Baseline], detector: DetectorConfig = DetectorConfig()
) -> list[Signal]:
    spec = rule.threshold.dynamic
    if spec is None:
        raise ValueError(f"rule {rule.id} has a static threshold")
    usable = list(baselines) if spec.source != "detector" else []
    fitted, paired = pair_with_baselines(usable, list(fleet))
    out = [_from_check(rule, check) for check in check_bands(fitted, paired, spec.z)]
    if spec.source == "baseline":
        return out
    have = {(s.metric, s.key) for s in paired}
    for s in fleet:
        if (s.metric, s.key) not in have:
            out.append(_from_detector(rule, s, spec.z, detector))
    return out


def _from_check(rule: Rule, check: BandCheck) -> Signal:
    b = check.baseline
    flags = _sided(rule, check.deviation, check.values > check.upper, check.values < check.lower)
    return Signal(
        b.metric,
        b.labels,
        "baseline",
        check.seconds,
        check.values,
        check.expected,
        check.lower,
        check.upper,
        flags,
        check.shifted,
    )


def _from_detector(rule: Rule, s: Series, z: float, config: DetectorConfig) -> Signal:
    seconds = s.timestamps / 1e9
    if np.isfinite(s.values).sum() <= config.min_history:
        nan = np.full(len(s), np.nan)
        return Signal(
            s.metric, s.labels, "insufficient", seconds, s.values, nan, nan, nan, np.zeros(len(s), dtype=bool)
        )
    found = detect(seconds, s.values, config)
    deviation = found.z * found.scale
    flags = _sided(rule, deviation, found.z > z, found.z < -z)
    values = found.forecast + deviation  # rates for counters, as the detector scores them
    return Signal(
        s.metric,
        s.labels,
        "detector",
        seconds,
        np.where(np.isfinite(values), values, s.values),
        found.forecast,
        found.forecast - z * found.scale,
        found.forecast + z * found.scale,
        flags,
    )
