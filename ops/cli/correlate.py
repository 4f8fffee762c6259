"""``ops correlate``: rank infrastructure metrics as suspects for a failure, with the evidence for each.

Three ways in: an incident (``ops correlate INC-42``), a flow run
(``--flow-run ID``), or a wide CSV (``--metrics FILE --failure-at TIME``).
The method is documented in :mod:`ops.correlate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from ops.cli._metric_options import parse_selector
from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    load_settings,
    note,
    print_json,
    warn,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from ops.correlate.models import CorrelationResult, WideFrame
    from ops.correlate.service import Scope

TIMING_STYLE = {"leading": "bold red", "simultaneous": "yellow", "lagging": "dim"}


def _duration(text: str, option: str) -> timedelta:
    from ops.metrics.errors import DurationError
    from ops.metrics.timerange import parse_duration

    try:
        return parse_duration(text)
    except DurationError as exc:
        raise typer.BadParameter(f"{exc.args[0]}; use 30s, 15m, 2h", param_hint=option) from None


def _instant(text: str) -> datetime:
    from ops.correlate.frame import parse_instant
    from ops.errors import CorrelateInputError

    try:
        return parse_instant(text)
    except CorrelateInputError as exc:
        raise typer.BadParameter(f"{exc.args[0]}; {exc.hint}", param_hint="--failure-at") from None


def ensure_one_way_in(incident: str | None, flow_run: str | None, metrics: Path | None, failure_at: str | None) -> None:
    """Exactly one of INCIDENT, --flow-run, --metrics; --failure-at with --metrics only (usage errors, exit 2)."""
    given = [
        name
        for name, value in (("INCIDENT", incident), ("--flow-run", flow_run), ("--metrics", metrics))
        if value is not None
    ]
    if len(given) != 1:
        raise typer.BadParameter(
            "give exactly one of INCIDENT, --flow-run ID or --metrics FILE"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if metrics is not None and failure_at is None:
        raise typer.BadParameter(
            "--metrics needs --failure-at TIME (unix seconds or ISO 8601)", param_hint="--failure-at"
        )
    if metrics is None and failure_at is not None:
        raise typer.BadParameter(
            "--failure-at goes with --metrics; incidents and runs carry their own", param_hint="--failure-at"
        )


@with_cli_exception_handling
def correlate(
    incident: Annotated[
        str | None, typer.Argument(help="The incident, e.g. INC-42: its opening time and labels.")
    ] = None,
    *,
    flow_run: Annotated[
        str | None,
        typer.Option("--flow-run", help="A flow run id: its failure (or end) time and labels, from the Prefect API."),
    ] = None,
    metrics: Annotated[
        Path | None,
        typer.Option(
            "--metrics", help="A wide CSV: a time column (unix seconds or ISO 8601) and one column per metric."
        ),
    ] = None,
    failure_at: Annotated[
        str | None,
        typer.Option("--failure-at", help="With --metrics: when the failure showed, unix seconds or ISO 8601."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="A column that is the failure's own signal "
            "(a latency, an error rate): correlate and Granger-test against "
            "it. (default: a step at the failure)",
        ),
    ] = None,
    before: Annotated[str, typer.Option("--before", help="Store data to read before the failure.")] = "30m",
    after: Annotated[str, typer.Option("--after", help="Store data to read after the failure.")] = "10m",
    step: Annotated[
        str | None, typer.Option("--step", help="Grid step for store data. (default: the sampling interval)")
    ] = None,
    selector: Annotated[
        str | None,
        typer.Option(
            "--selector",
            help="Store series to consider. (default: sluice_host_* and sluice_process_* of the run's labels)",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Suspects to show.")] = 10,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG of the top suspects here.")] = None,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="With INCIDENT: add the result to its timeline.")
    ] = True,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Rank infrastructure metrics as root-cause suspects for a failure, with the evidence for each.

    Evidence: robust z from the metric's own baseline, change point before/at/after the failure,
    lagged cross-correlation with the failure (or --target), and a Granger test where the data allow.
    """
    ensure_one_way_in(incident, flow_run, metrics, failure_at)
    window = Window(
        _duration(before, "--before"),
        _duration(after, "--after"),
        _duration(step, "--step") if step else None,
        selector,
        target,
    )
    if metrics is not None:
        frame, result = _offline(metrics, _instant(failure_at or ""), target)
    elif flow_run is not None:
        from ops.correlate.service import flow_run_scope

        frame, result = _from_store(flow_run_scope(flow_run), window)
    else:
        frame, result = _incident(incident or "", window, record)
    if plot is not None:
        from ops.correlate.plot import plot_suspects

        drawn = plot_suspects(frame, result, plot)
        note(f"wrote {plot} ({drawn} panels)", output=output)
    _show(result, top, output)


def _offline(path: Path, failure_at: datetime, target: str | None) -> tuple[WideFrame, CorrelationResult]:
    from ops.correlate.frame import prepare_frame, read_metrics_csv
    from ops.correlate.models import CorrelateConfig
    from ops.correlate.rank import correlate_prepared
    from ops.correlate.window import history_hint, history_problem
    from ops.errors import CorrelateInputError

    frame = prepare_frame(read_metrics_csv(path))
    problem = history_problem(frame, failure_at, CorrelateConfig())
    if problem is not None and problem.rows_short:
        raise CorrelateInputError(problem.reason, hint=history_hint(problem, None, None))
    return frame, correlate_prepared(frame, failure_at, target=target)


@dataclass(frozen=True)
class Window:
    """What to read from the store around the failure."""

    before: timedelta
    after: timedelta
    step: timedelta | None
    selector: str | None
    target: str | None


def _from_store(scope: Scope, window: Window) -> tuple[WideFrame, CorrelationResult]:
    from ops.correlate.service import correlate_scope
    from ops.metrics.store import open_store

    store = open_store(home=load_settings().home)
    return correlate_scope(
        store,
        scope,
        before=window.before,
        after=window.after,
        selector=parse_selector(window.selector) if window.selector else None,
        step=window.step,
        target=window.target,
    )


def _incident(ref: str, window: Window, record: bool) -> tuple[WideFrame, CorrelationResult]:
    from ops.cli._stores import incident_engine
    from ops.correlate.service import incident_scope, link_runbook, record_on_incident
    from ops.incidents.db import transaction
    from ops.incidents.service import ensure_incident

    with transaction(incident_engine()) as session:
        found = ensure_incident(session, ref)
        scope = incident_scope(found)
    frame, result = _from_store(scope, window)
    if record:
        with transaction(incident_engine()) as session:
            found = ensure_incident(session, ref)
            record_on_incident(session, found, result)
            link_runbook(session, found, result)
    return frame, result


def as_json(result: CorrelationResult, top: int) -> dict[str, Any]:
    """The stable shape: ``{"failure_at", "suspects": [{"metric", "score", "evidence"}, ...], ...}``, best first."""
    from dataclasses import asdict

    return {
        "failure_at": result.failure_at,
        "target": result.target,
        "window": {"start": result.start, "end": result.end, "rows": result.rows, "series": result.series},
        "suspects": [
            {
                "metric": s.metric,
                "score": s.score,
                "resource": s.resource,
                "labels": s.labels,
                "evidence": asdict(s.evidence),
            }
            for s in result.suspects[:top]
        ],
        "skipped": [asdict(s) for s in result.skipped],
        "notes": list(result.notes),
    }


def _show(result: CorrelationResult, top: int, output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_json(as_json(result, top))
        for said in result.notes:
            note(said, output=output)
        _skips(result, output)
        return
    rows = []
    for i, s in enumerate(result.suspects[:top], 1):
        e = s.evidence
        granger = (
            "-"
            if e.granger is None or not e.granger.tested
            else f"p={e.granger.p_value:.2g}" + (" ✓" if e.granger.significant else "")
        )
        rows.append(
            [
                cell(i),
                cell(s.metric),
                cell(s.resource or "other"),
                cell(f"{s.score:.3g}"),
                cell(_compact(e.z)),
                Text(f"{e.timing} {e.change_offset_seconds:+.3g}s", style=TIMING_STYLE[e.timing]),
                cell(f"{e.correlation.r:+.2f} {e.correlation.lag_seconds:+.3g}s"),
                cell(granger),
            ]
        )
    print_fitted(
        [
            number("#"),
            text("Metric"),
            key("Resource"),
            number("Score"),
            number("z"),
            text("When", min_width=8),
            text("r (lag)", min_width=8),
            text("Granger", min_width=8),
        ],
        rows,
        title=f"Suspects for the failure at {result.failure_at.isoformat()}",
    )
    if result.top is not None:
        note("why #1: " + "; ".join(result.top.evidence.reasons))
    for said in result.notes:
        warn(said)
    _skips(result, output)


def _compact(z: float) -> str:
    """``+1.5k`` for big z-scores, ``-3.2`` for small ones: the table stays narrow."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(z) >= size:
            return f"{z / size:+.1f}{suffix}"
    return f"{z:+.1f}"


def _skips(result: CorrelationResult, output: OutputFormat) -> None:
    if result.skipped:
        shown = "; ".join(f"{s.column} ({s.reason})" for s in result.skipped[:10])
        more = f" and {len(result.skipped) - 10} more" if len(result.skipped) > 10 else ""
        if output is OutputFormat.JSON:
            note(f"skipped {len(result.skipped)} column(s): {shown}{more}", output=output)
        else:
            warn(f"skipped {len(result.skipped)} column(s): {shown}{more}")
