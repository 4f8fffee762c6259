"""A picture of the top suspects: one panel each on a shared time axis, the failure and each change marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ops.correlate.models import CorrelationResult, WideFrame
from ops.metrics.models import to_ns

MAX_PANELS = 6


def plot_suspects(frame: WideFrame, result: CorrelationResult, target: Path, top: int = 5) -> int:
    """Draw the target (if any) and the top suspects, and write a PNG to ``target``; returns the panels drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ([result.target] if result.target else []) + [s.metric for s in result.suspects[:top]]
    names = names[:MAX_PANELS]
    if not names:
        return 0
    x, label = time_axis(frame, to_ns(result.failure_at))
    figure, axes = plt.subplots(len(names), 1, figsize=(11, 1.9 * len(names) + 0.8), sharex=True, squeeze=False)
    by_name = {s.metric: s for s in result.suspects}
    for ax, name in zip(axes[:, 0], names, strict=True):
        ax.plot(x, frame.values[frame.column(name)], color="black", lw=0.8)
        ax.axvline(0.0, color="tab:red", lw=1.2, label="failure")
        suspect = by_name.get(name)
        if suspect is None:
            ax.set_title(f"target: {name}", fontsize=9, loc="left")
        else:
            change = x[int(np.searchsorted(frame.times, to_ns(suspect.evidence.change_at)))]
            ax.axvline(change, color="tab:orange", ls="--", lw=1, label=f"change ({suspect.evidence.timing})")
            ax.set_title(
                f"#{names.index(name) + (0 if result.target else 1)} {name}  score {suspect.score:.3g}  "
                f"z {suspect.evidence.z:+.3g}  {suspect.resource or 'other'}",
                fontsize=9,
                loc="left",
            )
        ax.legend(fontsize=7, loc="upper left")
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel(label, fontsize=8)
    figure.suptitle(f"suspects for the failure at {result.failure_at.isoformat()}", fontsize=10)
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return len(names)


def time_axis(frame: WideFrame, failure: int) -> tuple[np.ndarray, str]:
    """Seconds from the failure; when the rows have a long gap (two recordings joined), rows times the step."""
    step = float(np.median(np.diff(frame.times))) if frame.rows > 1 else 1e9
    if frame.rows > 1 and np.diff(frame.times).max() > 100 * step:
        row = int(np.searchsorted(frame.times, failure))
        return (np.arange(frame.rows) - row) * step / 1e9, "seconds from the failure (gaps in the data removed)"
    return (frame.times - failure) / 1e9, "seconds from the failure"
