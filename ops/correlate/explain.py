"""A suspect's evidence in words, one line per factor of its score (:mod:`ops.correlate.rank`)."""

from __future__ import annotations

import math

from ops.correlate.models import Evidence


def reasons_for(metric: str, e: Evidence) -> list[str]:
    """The evidence in words, one line per factor."""
    unit = "/s (rate)" if e.rate else ""
    lines = [
        f"{'rose' if e.z > 0 else 'fell' if e.z < 0 else 'did not move'} {abs(e.z):,.3g} robust σ "
        f"from its baseline ({e.baseline:,.4g}{unit} → {e.level:,.4g}{unit}; peak {e.peak_z:,.3g} σ)"
    ]
    if e.factors.get("strength", 0.0) < math.log10(1.0 + abs(e.z)) - 1e-3:
        lines.append(
            f"its baseline sat still (no spread), so its z counts only up to {10 ** e.factors['strength'] - 1:.3g} "
            "in the score"
        )
    if e.factors.get("direction", 1.0) < 1.0:
        lines.append("usage fell: a resource that frees up is more likely an effect than the cause")
    when = {"leading": "before", "lagging": "after", "simultaneous": "at about the time of"}[e.timing]
    lines.append(
        f"changed {abs(e.change_offset_seconds):,.3g} s {'before' if e.change_offset_seconds < 0 else 'after'}"
        f" the failure ({e.timing}: {when} it)"
        + (
            ": another series stepped at the failure, so this is more likely an earlier change"
            if e.timing == "leading" and e.factors.get("timing", 1.0) < 1.0
            else ""
        )
        + (": more likely an effect" if e.timing == "lagging" else "")
    )
    if e.factors.get("magnitude", 1.0) < 1.0:
        lines.append(f"a small move for a resource: weighted by {e.factors['magnitude']:.2g}")
    if e.factors.get("origin", 1.0) < 1.0:
        lines.append(
            f"rose by a smaller share of its baseline than another latency at the failure (weighted by "
            f"{e.factors['origin']:.2g}): a caller's latency carries its callee's"
        )
    if e.factors.get("symptom", 1.0) < 1.0:
        lines.append("a symptom: a resource of the same service rose at the failure, and ranks ahead as the cause")
    c = e.correlation
    lines.append(
        f"correlation with the {'failure signal' if c.signal == 'failure' else c.signal} {c.r:+.2f}, "
        f"{'suspect first by' if c.lag_seconds > 0 else 'suspect later by' if c.lag_seconds < 0 else 'lag'} "
        f"{abs(c.lag_seconds):g} s"
    )
    if e.granger is not None and e.granger.tested:
        verdict = "helps" if e.granger.significant else "does not help"
        lines.append(
            f"Granger: its past {verdict} predict {c.signal} (p={e.granger.p_value:.3g}, "
            f"best lag {e.granger.lag_rows} rows)"
        )
    return lines
