"""Column profiles read back from the metrics store: a dataset's latest profile, one column's history, its plot.

The profiles are the ``sluice_column_*`` series that :mod:`tasks.profile`
writes after each committed run (:mod:`ops.metrics.profiles` names them);
one run is one instant, shared by every series of the run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ops.metrics import profiles as m
from ops.metrics.models import Selector, Series, from_ns
from ops.metrics.store import MetricsStore

TOP_SHOWN = 3


@dataclass(frozen=True)
class ColumnPoint:
    """One column's figures in one run."""

    at: datetime
    column: str
    type: str
    null_rate: float | None = None
    distinct: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    median: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    top: dict[str, float] = field(default_factory=dict)
    length_mean: float | None = None

    def top_text(self, limit: int = TOP_SHOWN) -> str:
        ranked = sorted(self.top.items(), key=lambda kv: -kv[1])[:limit]
        return " ".join(f"{value or '(empty)'} {share:.0%}" for value, share in ranked)


@dataclass(frozen=True)
class DatasetProfile:
    """The latest profiled run of a dataset in ``[start, end]``; ``at`` is None when there is none."""

    dataset: str
    environment: str
    at: datetime | None
    columns: list[ColumnPoint]


_SCALARS = {
    m.NULL_RATE: "null_rate",
    m.DISTINCT: "distinct",
    m.MINIMUM: "minimum",
    m.MAXIMUM: "maximum",
    m.MEAN: "mean",
    m.LENGTH_MEAN: "length_mean",
}


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _series(
    store: MetricsStore, dataset: str, environment: str, start: datetime, end: datetime, column: str | None
) -> list[Series]:
    matchers = f'__name__=~"sluice_column_.*",dataset="{_quoted(dataset)}",environment="{_quoted(environment)}"'
    if column is not None:
        matchers += f',column="{_quoted(column)}"'
    return store.query_range(Selector.parse(f"{{{matchers}}}"), start, end)


@dataclass
class _Figures:
    """What the store holds of one column in one run, gathered series by series."""

    type: str = ""
    scalars: dict[str, float] = field(default_factory=dict)
    quantiles: dict[str, float] = field(default_factory=dict)
    top: dict[str, float] = field(default_factory=dict)

    def add(self, s: Series, value: float) -> None:
        if s.metric in _SCALARS:
            self.scalars[_SCALARS[s.metric]] = value
        elif s.metric == m.QUANTILE:
            self.quantiles[s.labels.get("q", "")] = value
        elif s.metric == m.TOP_SHARE and value > 0:
            self.top[s.labels.get("value", "")] = value
        elif s.metric == m.PRESENT:
            self.type = s.labels.get("type", "")

    def point(self, ts: int, column: str) -> ColumnPoint:
        g = self.scalars.get
        return ColumnPoint(
            from_ns(ts),
            column,
            self.type,
            null_rate=g("null_rate"),
            distinct=g("distinct"),
            minimum=g("minimum"),
            maximum=g("maximum"),
            mean=g("mean"),
            median=self.quantiles.get("0.5"),
            quantiles=self.quantiles,
            top=self.top,
            length_mean=g("length_mean"),
        )


def _points(series: list[Series]) -> dict[tuple[int, str], _Figures]:
    """Per (instant, column), every figure found."""
    found: dict[tuple[int, str], _Figures] = defaultdict(_Figures)
    for s in series:
        column = s.labels.get("column", "")
        for ts, value in zip(s.timestamps.tolist(), s.values.tolist(), strict=True):
            found[(ts, column)].add(s, value)
    return found


def latest_profile(
    store: MetricsStore, dataset: str, environment: str, start: datetime, end: datetime
) -> DatasetProfile:
    """The columns of the dataset's last profiled run in ``[start, end]``, in the order the run profiled them."""
    found = _points(_series(store, dataset, environment, start, end, None))
    if not found:
        return DatasetProfile(dataset, environment, None, [])
    last = max(ts for ts, _ in found)
    columns = [figures.point(ts, column) for (ts, column), figures in found.items() if ts == last]
    return DatasetProfile(dataset, environment, from_ns(last), sorted(columns, key=lambda c: c.column))


def column_history(
    store: MetricsStore, dataset: str, environment: str, column: str, start: datetime, end: datetime
) -> list[ColumnPoint]:
    """One column's figures in every profiled run in ``[start, end]``, oldest first."""
    found = _points(_series(store, dataset, environment, start, end, column))
    return [figures.point(ts, c) for (ts, c), figures in sorted(found.items(), key=lambda kv: kv[0])]


def plot_history(history: list[ColumnPoint], title: str, target: Path) -> Path:
    """Draw a column's history (null rate, distinct count, mean and quantiles, top values) to the PNG ``target``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [p.at for p in history]
    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    axes[0][0].plot(times, [p.null_rate for p in history], marker=".")
    axes[0][0].set_title("Null rate", fontsize=10, loc="left")
    axes[0][1].plot(times, [p.distinct for p in history], marker=".")
    axes[0][1].set_title("Distinct values (estimate)", fontsize=10, loc="left")
    for q in sorted({q for p in history for q in p.quantiles}):
        axes[1][0].plot(times, [p.quantiles.get(q) for p in history], label=f"q{q}")
    axes[1][0].plot(times, [p.mean for p in history], label="mean", color="black", linestyle="--")
    axes[1][0].set_title("Mean and quantiles", fontsize=10, loc="left")
    for value in sorted({v for p in history for v in p.top})[:10]:
        axes[1][1].plot(times, [p.top.get(value, 0.0) for p in history], marker=".", label=value or "(empty)")
    axes[1][1].set_title("Share of the top values", fontsize=10, loc="left")
    for ax in (axes[1][0], axes[1][1]):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    for ax in axes.flat:
        ax.tick_params(labelsize=8)
    figure.suptitle(title)
    figure.autofmt_xdate()
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target
