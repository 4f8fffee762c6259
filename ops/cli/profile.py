"""``ops profile DATASET [COLUMN]``: the column profiles of a dataset's runs, from the metrics store.

Without COLUMN, the latest profiled run: one line per column. With COLUMN,
that column over every profiled run in the range, and with ``--plot`` a PNG
of its null rate, distinct count, mean and quantiles and top values.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._metric_options import metrics_store
from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    exit_with_success,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)
from sluice.display import readable

if TYPE_CHECKING:
    from ops.reports.profiles import ColumnPoint, DatasetProfile


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print_latest(found: DatasetProfile) -> None:
    print_fitted(
        [
            text("Column", min_width=10),
            key("Type"),
            number("Nulls"),
            number("Distinct"),
            number("Min"),
            number("Median"),
            number("Max"),
            text("Top values", min_width=10),
        ],
        [
            [
                cell(c.column),
                cell(c.type),
                _share(c.null_rate),
                readable(c.distinct),
                readable(c.minimum),
                readable(c.median),
                readable(c.maximum),
                cell(c.top_text() or None),
            ]
            for c in found.columns
        ],
        title=f"{found.dataset} ({found.environment}): run profiled {found.at:%Y-%m-%d %H:%M:%S} UTC",
    )


def _print_history(title: str, history: list[ColumnPoint]) -> None:
    print_fitted(
        [
            key("Run finished (UTC)"),
            number("Nulls"),
            number("Distinct"),
            number("Mean"),
            number("Median"),
            text("Top values", min_width=10),
        ],
        [
            [
                cell(f"{p.at:%Y-%m-%d %H:%M}"),
                _share(p.null_rate),
                readable(p.distinct),
                readable(p.mean),
                readable(p.median),
                cell(p.top_text() or None),
            ]
            for p in history
        ],
        title=f"{title}: {len(history)} profiled run(s)",
    )


@with_cli_exception_handling
def profile(
    dataset: Annotated[str, typer.Argument(help="The dataset whose runs were profiled.")],
    column: Annotated[str | None, typer.Argument(help="One column: its history over the runs.")] = None,
    *,
    since: Annotated[str, typer.Option("--since", help="How far back: 7d, 30d, 12w, 24h.")] = "30d",
    env: Annotated[str | None, typer.Option("--env", help="The environment. (default: SLUICE_ENV)")] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", metavar="PNG", help="With COLUMN, draw its history to this PNG.", dir_okay=False),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Column profiles (null rate, distinct count, extremes, median, top values) of a dataset's runs."""
    from ops.metrics.timerange import parse_duration
    from ops.reports.profiles import column_history, latest_profile, plot_history

    if plot is not None and column is None:
        raise typer.BadParameter("--plot draws one column's history: name the COLUMN", param_hint="--plot")
    environment = env or load_settings().env
    end = datetime.now(timezone.utc)
    start = end - parse_duration(since)
    if column is None:
        found = latest_profile(metrics_store(), dataset, environment, start, end)
        if output is OutputFormat.JSON:
            print_json(found)
        elif found.at is None:
            exit_with_success(f"no profile of {dataset} in {environment} since {start:%Y-%m-%d %H:%M} UTC")
        else:
            _print_latest(found)
        return
    history = column_history(metrics_store(), dataset, environment, column, start, end)
    title = f"{dataset}.{column} ({environment})"
    if plot is not None and history:
        plot_history(history, title, plot)
        note(f"wrote {plot}", output=output, style="dim")
    if output is OutputFormat.JSON:
        print_json(history)
    elif not history:
        exit_with_success(f"no profile of {title} since {start:%Y-%m-%d %H:%M} UTC")
    else:
        _print_history(title, history)
