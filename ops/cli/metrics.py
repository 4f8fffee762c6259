"""``ops metrics``: pipeline and host metrics, from the embedded store or Prometheus.

The backend is ``SLUICE_METRICS_BACKEND`` (``embedded``, the default, or
``prometheus`` at ``SLUICE_PROMETHEUS_URL``). Selectors are PromQL's:
``sluice_rows_read{dataset="orders",environment!="dev",host=~"web-.*"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ops.cli._metric_options import (
    SELECTOR_HELP,
    EndOption,
    SinceOption,
    StartOption,
    StepOption,
    labels_text,
    metrics_store,
    parse_selector,
    parse_step,
    parse_time_range,
)
from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    console,
    exit_with_success,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)
from sluice.errors import SluiceError

if TYPE_CHECKING:
    from ops.metrics.models import Series

app = typer.Typer(
    help="Pipeline and host metrics: list series, query, export, collect from run records.", no_args_is_help=True
)


@dataclass(frozen=True)
class SeriesPoints:
    """One series of ``ops metrics query --output json``: points are ``[iso_time, value]`` pairs."""

    metric: str
    labels: dict[str, str]
    points: list[tuple[str, float | None]]


@dataclass(frozen=True)
class CollectResult:
    """What ``ops metrics collect`` wrote."""

    samples_written: int
    store: str


def _number(value: float | None) -> Text:
    if value is None:
        return Text("NaN", style="dim")
    if value.is_integer() and abs(value) < 1e15:
        return Text(f"{int(value):,}")
    return Text(f"{value:,.4f}".rstrip("0").rstrip("."))


@app.command("list")
@with_cli_exception_handling
def list_series(
    selector: Annotated[str | None, typer.Argument(help=SELECTOR_HELP + " (default: every series)")] = None,
    *,
    since: Annotated[str | None, typer.Option("--since", help="Only series with points this recent: 1h, 7d.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List the series in the store with their point counts and time ranges."""
    chosen = parse_selector(selector)
    window = parse_time_range(since, None, None) if since else None
    store = metrics_store()
    infos = store.series(chosen, start=window.start if window else None, end=window.end if window else None)
    if output is OutputFormat.JSON:
        print_json(infos)
        return
    if not infos:
        exit_with_success(f"no series match {chosen} in {store.location}")
    print_fitted(
        [text("Metric"), text("Labels"), number("Points"), key("First"), key("Last")],
        [
            [cell(info.metric), cell(labels_text(info.labels)), cell(info.points), cell(info.first), cell(info.last)]
            for info in infos
        ],
    )


@app.command("query")
@with_cli_exception_handling
def query(
    selector: Annotated[str, typer.Argument(help=SELECTOR_HELP)],
    *,
    since: SinceOption = None,
    start: StartOption = None,
    end: EndOption = None,
    step: StepOption = None,
    tail: Annotated[int, typer.Option(min=1, help="Table only: show the last N points of each series.")] = 10,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show the points of the matching series in a time range (the last hour by default)."""
    chosen, window, every = parse_selector(selector), parse_time_range(since, start, end), parse_step(step)
    found = metrics_store().query_range(chosen, window.start, window.end, every)
    if output is OutputFormat.JSON:
        print_json([SeriesPoints(s.metric, s.labels, s.points()) for s in found])
        return
    if not found:
        exit_with_success(
            f"no points of {chosen} between {window.start:%Y-%m-%dT%H:%M:%SZ} and {window.end:%Y-%m-%dT%H:%M:%SZ}"
        )
    _print_points(found, tail)
    hidden = sum(max(0, len(s) - tail) for s in found)
    if hidden:
        note(f"{hidden:,} earlier points not shown; --tail shows more, --output json shows all", style="dim")


def _print_points(found: list[Series], tail: int) -> None:
    """The last ``tail`` points of each series, under its name."""
    for s in found:
        console.print(Text(f"{s.metric}{{{labels_text(s.labels)}}}", style="bold"))
        print_fitted(
            [key("Time"), number("Value")],
            [[cell(datetime.fromisoformat(when)), _number(value)] for when, value in s.points()[-tail:]],
        )


@app.command("export")
@with_cli_exception_handling
def export(
    selector: Annotated[str, typer.Argument(help=SELECTOR_HELP)],
    *,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or parquet.", case_sensitive=False)] = "csv",
    out: Annotated[Path, typer.Option("--out", help="The file to write (replaced if it exists).", dir_okay=False)],
    since: SinceOption = None,
    start: StartOption = None,
    end: EndOption = None,
    step: StepOption = None,
) -> None:
    """Write the matching series to a file in LONG format: one row per point.

    Columns: timestamp (UTC; ISO 8601 in CSV), metric, one column per label name
    (empty where a series lacks it), value.
    """
    from ops.metrics.export import ExportFormat, write_export

    if fmt.lower() not in {f.value for f in ExportFormat}:
        raise typer.BadParameter(f"{fmt!r} is not csv or parquet", param_hint="--format")
    chosen, window, every = parse_selector(selector), parse_time_range(since, start, end), parse_step(step)
    found = metrics_store().query_range(chosen, window.start, window.end, every)
    rows = write_export(found, out, ExportFormat(fmt.lower()))
    note(f"wrote {rows:,} points of {len(found):,} series to {out}")


@app.command("collect")
@with_cli_exception_handling
def collect(
    *,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only runs finished this recently (1d) or since this ISO time. (default: every run)"
        ),
    ] = None,
    prefect: Annotated[
        bool | None,
        typer.Option(
            "--prefect/--no-prefect",
            help="Also read flow and task runs from the Prefect API. (default: when PREFECT_API_URL is set)",
        ),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Derive pipeline metrics (rows, quarantine rate, duration, freshness, source lag...) from the run records,
    and flow/task durations, states and error rate from the Prefect API.

    Safe to repeat: samples the store already holds are not written again.
    """
    import os
    from datetime import datetime, timezone

    from ops.cli._stores import metadata_store
    from ops.metrics.collect import collect_pipeline_metrics, collect_prefect_metrics

    begin = _collect_since(since)
    store = metrics_store()
    with metadata_store() as conn:
        written = collect_pipeline_metrics(conn, store, since=begin)
    if prefect if prefect is not None else bool(os.environ.get("PREFECT_API_URL")):
        start = begin or datetime.now(timezone.utc) - timedelta(days=7)
        written += collect_prefect_metrics(store, since=start, environment=load_settings().env)
    result = CollectResult(written, store.location)
    if output is OutputFormat.JSON:
        print_json(result)
        return
    note(f"wrote {written:,} new samples to {store.location}")


def _collect_since(since: str | None) -> datetime | None:
    from ops.metrics.errors import DurationError
    from ops.metrics.timerange import TimeRange, parse_time

    if since is None:
        return None
    try:
        return TimeRange.resolve(since=since, start=None, end=None).start
    except DurationError:
        pass
    try:
        return parse_time(since)
    except DurationError as exc:
        raise typer.BadParameter(
            f"{since!r} is neither a duration nor a time; {exc.hint}", param_hint="--since"
        ) from None


@app.command("compact")
@with_cli_exception_handling
def compact(
    *,
    min_files: Annotated[int, typer.Option(min=2, help="Compact partitions with at least this many files.")] = 2,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Merge the small part files of the embedded store, one file per metric and day."""
    from ops.metrics.embedded import EmbeddedStore

    store = metrics_store()
    if not isinstance(store, EmbeddedStore):
        raise SluiceError(
            f"only the embedded store is compacted; {store.location} is not one",
            hint="Prometheus compacts its own storage",
        )
    result = store.compact(min_files=min_files)
    if output is OutputFormat.JSON:
        print_json(result)
        return
    note(f"compacted {result.partitions:,} partitions: {result.files_before:,} files into {result.files_after:,}")


@app.command("serve")
@with_cli_exception_handling
def serve(
    *,
    port: Annotated[int, typer.Option(min=0, max=65535, help="The port of /metrics; 0 picks a free one.")] = 9464,
    addr: Annotated[
        str, typer.Option("--addr", help="The address to listen on; 0.0.0.0 when Prometheus scrapes from another host.")
    ] = "127.0.0.1",
    window: Annotated[
        str, typer.Option("--window", help="Serve a series only while its newest sample is this recent (1d, 6h).")
    ] = "1d",
) -> None:
    """Serve the host metrics and the embedded store's pipeline metrics on /metrics for Prometheus, until Ctrl-C.

    Each scrape reads, per pipeline series (runs, freshness, streams, change capture, Prefect runs), its newest
    sample within --window. Keep `ops metrics collect` (or the alerts-evaluate deployment) writing them.
    """
    import threading

    from ops.metrics.embedded import EmbeddedStore
    from ops.metrics.store_exporter import start_store_exporter
    from ops.metrics.timerange import parse_duration

    store = metrics_store()
    if not isinstance(store, EmbeddedStore):
        raise SluiceError(
            f"only the embedded store is served; {store.location} is Prometheus itself",
            hint="set SLUICE_METRICS_BACKEND=embedded where `ops metrics collect` runs, and serve that store",
        )
    exporter = start_store_exporter(
        store, port, addr=addr, labels={"environment": load_settings().env}, window=parse_duration(window)
    )
    note(f"serving {exporter.url} (add it to Prometheus's scrape_configs); Ctrl-C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        exporter.close()


sampler_app = typer.Typer(
    help="The background sampler service: host metrics every few seconds into the store.", no_args_is_help=True
)
app.add_typer(sampler_app, name="sampler")


@dataclass(frozen=True)
class SamplerState:
    """``ops metrics sampler status --output json``: the service's pid (None when stopped) and its files."""

    running: bool
    pid: int | None
    pid_file: str
    log: str
    interval_seconds: float


def _sampler_state(pid: int | None) -> SamplerState:
    from ops.metrics.service import log_path, pid_path

    settings = load_settings()
    home = settings.home.resolve()
    return SamplerState(
        pid is not None, pid, str(pid_path(home)), str(log_path(home)), settings.metrics.metrics_service_seconds
    )


@sampler_app.command("start")
@with_cli_exception_handling
def sampler_start(output: OutputOption = OutputFormat.TABLE) -> None:
    """Start the sampler service of SLUICE_HOME in the background, unless it runs already."""
    from ops.metrics.service import start_service

    status = start_service(load_settings().home, load_settings())
    if output is OutputFormat.JSON:
        print_json(_sampler_state(status.pid))
        return
    said = "started" if status.started else "already running"
    note(f"sampler service {said} (pid {status.pid}), every {status.interval:g} s; log {status.log}")


@sampler_app.command("stop")
@with_cli_exception_handling
def sampler_stop() -> None:
    """Stop the sampler service of SLUICE_HOME (it writes what it read last)."""
    from ops.metrics.service import stop_service

    pid = stop_service(load_settings().home)
    note("no sampler service was running" if pid is None else f"stopped the sampler service (pid {pid})")


@sampler_app.command("status")
@with_cli_exception_handling
def sampler_status(output: OutputOption = OutputFormat.TABLE) -> None:
    """Whether the sampler service of SLUICE_HOME runs, its pid, interval and log."""
    from ops.metrics.service import running_pid

    state = _sampler_state(running_pid(load_settings().home.resolve()))
    if output is OutputFormat.JSON:
        print_json(state)
        return
    if state.running:
        note(f"running (pid {state.pid}), every {state.interval_seconds:g} s; log {state.log}")
    else:
        note(f"not running; `ops metrics sampler start` starts it (log {state.log})")
