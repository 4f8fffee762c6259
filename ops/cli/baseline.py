"""``ops baseline``: statistical baselines, their bands, and the anomaly detector behind dynamic thresholds.

Baselines are fitted from the metrics store (``ops metrics``) and kept, one
version per fit, under ``<SLUICE_HOME>/baselines``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._metric_options import (
    SELECTOR_HELP,
    EndOption,
    labels_text,
    metrics_store,
    parse_selector,
    parse_time_range,
)
from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    exit_with_error,
    exit_with_success,
    load_settings,
    note,
    print_json,
    warn,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from datetime import datetime

    from ops.baselines.model import Baseline
    from ops.baselines.registry import BaselineRegistry
    from ops.baselines.service import BaselineView

app = typer.Typer(help="Statistical baselines: fit, show, plot; and anomaly scores.", no_args_is_help=True)

ZOption = Annotated[float, typer.Option("--z", min=0.5, help="Band half-width in robust standard deviations.")]


def _registry() -> BaselineRegistry:
    from ops.baselines.service import open_registry

    return open_registry(load_settings().home)


def _num(value: float) -> str:
    return f"{value:,.4g}"


def _views_table(views: list[BaselineView]) -> None:
    rows = []
    for v in views:
        model = v.model + (" (rate)" if v.counter else "")
        if set(v.seasons) - set(v.model.split("+")):
            model += f" [{', '.join(v.seasons)} seen]"
        rows.append(
            [
                cell(f"{v.metric}{{{labels_text(v.labels)}}}"),
                cell(model),
                cell(_num(v.expected)),
                cell(f"{_num(v.lower)} … {_num(v.upper)}"),
                cell(_num(v.scale)),
                cell(v.version),
                cell(v.fitted_at.strftime("%m-%d %H:%M")),
            ]
        )
    print_fitted(
        [
            text("Series"),
            text("Model", min_width=8),
            number("Expected"),
            number("Band"),
            number("σ"),
            number("Ver"),
            key("Fitted"),
        ],
        rows,
    )


@app.command("fit")
@with_cli_exception_handling
def fit(
    selector: Annotated[str, typer.Argument(help=SELECTOR_HELP)],
    *,
    since: Annotated[str, typer.Option("--since", help="History to learn from: 7d, 2w, 28d.")] = "28d",
    end: EndOption = None,
    method: Annotated[
        str, typer.Option(help="median (fast, robust) or stl (statsmodels STL/MSTL per series).")
    ] = "median",
    z: ZOption = 4.0,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Learn a baseline for every matching series and save them as a new version.

    Per series: seasonality (none, daily, weekly, both) chosen by backtest on
    the last days of history, a robust decomposition, and a MAD-based scale.
    Series that cannot be fitted (too short, constant) are listed with the reason.
    """
    from ops.baselines.fit import FitConfig
    from ops.baselines.service import fit_from_store

    if method not in ("median", "stl"):
        raise typer.BadParameter("choose median or stl", param_hint="--method")
    window = parse_time_range(since, None, end)
    config = FitConfig(method=method)  # type: ignore[arg-type]  # checked against the two methods above
    report = fit_from_store(metrics_store(), _registry(), parse_selector(selector), window.start, window.end, config, z)
    if output is OutputFormat.JSON:
        print_json(report)
    else:
        if report.fitted:
            _views_table(report.fitted)
            note(f"saved as version {report.version}: {len(report.fitted):,} series in {report.seconds:.2f} s")
        for r in report.rejected:
            note(f"not fitted: {r.metric}{{{labels_text(r.labels)}}}: {r.reason} ({r.hint})", style="yellow")
    if not report.fitted:
        exit_with_error(
            f"no series could be fitted ({len(report.rejected)} rejected)",
            hint="the reasons are listed above; widen --since or use static rules for them",
        )


@app.command("show")
@with_cli_exception_handling
def show(
    selector: Annotated[str | None, typer.Argument(help=SELECTOR_HELP + " (default: every baseline)")] = None,
    *,
    version: Annotated[int | None, typer.Option(help="Show the baselines as of this version.")] = None,
    at: Annotated[str | None, typer.Option(help="Show the band at this instant, ISO 8601. (default: now)")] = None,
    hours: Annotated[int, typer.Option(min=0, max=168, help="With one series: its band hour by hour for N hours.")] = 0,
    z: ZOption = 4.0,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Print the current baselines and their bands."""
    from ops.baselines.service import view

    when = parse_time_range(None, None, at).end
    found = _registry().current(parse_selector(selector), as_of=version)
    views = [view(b, when, z) for b in found]
    if hours and len(found) == 1:
        _hourly(found[0], when, hours, z, output)
        return
    if output is OutputFormat.JSON:
        print_json(views)
        return
    if not views:
        exit_with_success("no baselines match; fit some with `ops baseline fit SELECTOR`")
    _views_table(views)


def _hourly(baseline: Baseline, when: datetime, hours: int, z: float, output: OutputFormat) -> None:
    import numpy as np

    from ops.metrics.models import from_ns, to_ns

    start = to_ns(when) // 3_600_000_000_000 * 3_600_000_000_000
    stamps = start + np.arange(hours) * 3_600_000_000_000
    lower, expected, upper = baseline.band(stamps / 1e9, z)
    points = [
        (from_ns(int(t)), float(lo), float(e), float(hi))
        for t, lo, e, hi in zip(stamps, lower, expected, upper, strict=True)
    ]
    rows = [{"at": at, "lower": lo, "expected": e, "upper": hi} for at, lo, e, hi in points]
    if output is OutputFormat.JSON:
        print_json(rows)
        return
    print_fitted(
        [key("At"), number("Lower"), number("Expected"), number("Upper")],
        [[cell(at), cell(_num(lo)), cell(_num(e)), cell(_num(hi))] for at, lo, e, hi in points],
        title=f"{baseline.metric}{{{labels_text(baseline.labels)}}}",
    )


@app.command("plot")
@with_cli_exception_handling
def plot(
    selector: Annotated[str, typer.Argument(help=SELECTOR_HELP)],
    *,
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")],
    since: Annotated[str, typer.Option("--since", help="How much recent data to draw: 1d, 3d, 1w.")] = "3d",
    end: EndOption = None,
    z: ZOption = 4.0,
) -> None:
    """Draw each matching series with its band and the points outside it (up to 8 panels)."""
    from ops.baselines.plot import plot_checks
    from ops.baselines.service import check_from_store

    window = parse_time_range(since, None, end)
    found = check_from_store(metrics_store(), _registry(), parse_selector(selector), window.start, window.end, z)
    checks = [c for c in found if len(c.values)]
    if not checks:
        exit_with_error(
            f"no series matching {selector} has both a baseline and points in the window",
            hint="fit one with `ops baseline fit`, or widen --since",
        )
    drawn = plot_checks(checks, out, z, title=selector)
    note(f"wrote {out} ({drawn} of {len(checks)} series)")


@app.command("versions")
@with_cli_exception_handling
def versions(output: OutputOption = OutputFormat.TABLE) -> None:
    """List the saved baseline versions."""
    found = _registry().versions()
    if output is OutputFormat.JSON:
        print_json(found)
        return
    if not found:
        exit_with_success("no baselines yet; fit some with `ops baseline fit SELECTOR`")
    print_fitted(
        [number("Version"), number("Series"), key("Fitted"), text("File")],
        [[cell(v.version), cell(v.series), cell(v.fitted_at), cell(v.path)] for v in found],
    )


@app.command("score")
@with_cli_exception_handling
def score(
    *,
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV with columns timestamp,value.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write timestamp,value,anomaly_score.")],
    json_summary: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Score every row of a series in [0, 1], strictly causally (the score at t uses rows up to t only).

    The same algorithm and settings serve every series; nothing is tuned per file.
    Rows are scored in file order; late rows and repeated timestamps are scored and counted, with a warning.
    """
    from ops.baselines.scoring import score_csv

    summary = score_csv(input, output)
    for message in summary.warnings:
        warn(message)
    if json_summary:
        print_json(summary)
        return
    print_fitted(
        [
            number("rows"),
            number("missing"),
            key("season"),
            number("max score"),
            number("rows ≥ 0.5"),
            text("written to"),
        ],
        [
            [
                cell(summary.rows),
                cell(summary.missing_values),
                cell(summary.season),
                cell(f"{summary.max_score:.3f}"),
                cell(summary.rows_over_half),
                cell(summary.output),
            ]
        ],
    )
