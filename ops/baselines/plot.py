"""A picture of baselines: each series with its band and the points outside it, as a PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ops.baselines.evaluate import BandCheck

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_PANELS = 8


def plot_checks(checks: Sequence[BandCheck], target: Path, z: float, title: str = "") -> int:
    """Draw up to ``MAX_PANELS`` series, one panel each, and write ``target``; returns how many were drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = list(checks)[:MAX_PANELS]
    figure, axes = plt.subplots(len(shown), 1, figsize=(11, 2.6 * len(shown) + 0.6), squeeze=False, sharex=False)
    for ax, check in zip(axes[:, 0], shown, strict=True):
        _panel(ax, check, z)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=110)
    plt.close(figure)
    return len(shown)


def _panel(ax: Axes, check: BandCheck, z: float) -> None:
    times = (check.seconds * 1e9).astype("datetime64[ns]")
    b = check.baseline
    ax.fill_between(times, check.lower, check.upper, color="tab:blue", alpha=0.18, label=f"band (±{z:g} σ)")
    ax.plot(times, check.expected, color="tab:blue", lw=0.8, label="expected")
    ax.plot(times, check.values, color="black", lw=0.7, label="rate" if b.counter else "value")
    out = check.outside()
    ax.scatter(times[out], check.values[out], color="tab:red", s=14, zorder=3, label=f"outside ({int(out.sum())})")
    if check.shifted is not None and check.shifted.rebaselined_at is not None:
        # A date on the date axis is converted by matplotlib's units; its stub types x as float only.
        ax.axvline(
            np.datetime64(check.shifted.rebaselined_at.replace(tzinfo=None)),  # type: ignore[arg-type]
            color="tab:orange",
            ls="--",
            lw=1,
            label="re-baselined",
        )
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(b.labels.items()))
    ax.set_title(f"{b.metric}{{{labels}}}  model={b.model} v{b.version}", fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="upper left", ncols=5)
    ax.tick_params(labelsize=7)
