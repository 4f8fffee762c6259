"""The incident report as a PNG: response times and incident counts, one panel each (Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ops.reports.models import Report

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_FLOWS = 10


def _bars(ax: Axes, counts: dict[str, int], title: str, *, horizontal: bool = False) -> None:
    from matplotlib.ticker import MaxNLocator

    names, values = list(counts), list(counts.values())
    if horizontal:
        ax.barh(names[::-1], values[::-1], color="tab:blue")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.bar(names, values, color="tab:blue")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=10, loc="left")
    ax.tick_params(labelsize=8)
    if not names:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes, color="grey")


def _response(ax: Axes, report: Report) -> None:
    labels = ["MTTA", "MTTR"]
    means = [s.mean_minutes or 0.0 for s in (report.mtta, report.mttr)]
    medians = [s.median_minutes or 0.0 for s in (report.mtta, report.mttr)]
    positions = range(len(labels))
    ax.bar([p - 0.2 for p in positions], means, width=0.4, label="mean", color="tab:orange")
    ax.bar([p + 0.2 for p in positions], medians, width=0.4, label="median", color="tab:green")
    ax.set_xticks(
        list(positions), [f"{name} (n={s.count})" for name, s in zip(labels, (report.mtta, report.mttr), strict=True)]
    )
    ax.set_ylabel("minutes", fontsize=8)
    ax.set_title("Response times", fontsize=10, loc="left")
    ax.legend(fontsize=8)
    ax.tick_params(labelsize=8)


def plot_report(report: Report, target: Path) -> Path:
    """Draw ``report`` (response times; incidents by severity, source and flow) and write it to ``target``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    _response(axes[0][0], report)
    _bars(axes[0][1], report.by_severity, "Incidents by severity")
    _bars(axes[1][0], report.by_source, "Incidents by source")
    flows = dict(list(report.by_flow.items())[:MAX_FLOWS])
    _bars(axes[1][1], flows, f"Incidents by flow (top {MAX_FLOWS})", horizontal=True)
    figure.suptitle(
        f"{report.incidents} incident(s) opened {report.since:%Y-%m-%d %H:%M} to "
        f"{report.until:%Y-%m-%d %H:%M} UTC" + (" (drills included)" if report.drills_included else "")
    )
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target
