"""``ops ingest``: ingest a source into a dataset now, in this process or through a deployment.

Locally (the default) the ``ingest-files`` flow runs in this process on a
local Dask cluster, against the Prefect API at ``PREFECT_API_URL`` (or a local
server it starts), with a live display of the files staged and the rows read.
With ``--deployment`` a run of that ``ingest-files`` deployment is created
through the Prefect API for a worker to take; ``--wait`` (the default) follows
it to its final state, ``--no-wait`` prints its id and URL and returns.

A finished run ends with its summary (rows read, written, quarantined and
duplicate; every number whole at 80 columns) and what to look at next. Exit
codes: 0 the run completed, 1 it failed (its incident is named) or could not
start, 2 usage errors (an unknown dataset, a source no filesystem can open, an
unknown deployment).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ops.cli._ingest_deployments import deployment_name, ensure_known_dataset
from ops.cli._ingest_outcome import IngestOutcome, finish
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    console,
    error_message,
    exit_with_error,
    load_settings,
    note,
    with_cli_exception_handling,
)
from sluice.errors import SluiceError, SourceError
from sluice.runs.records import RunReport

if TYPE_CHECKING:
    from ops.cli._flow_runs import PrefectApi, StateChange

SOURCE_HINT = "give a folder or a file, or an object store prefix such as s3://bucket/prefix"


def _ensure_openable_source(source: str, *, here: bool) -> None:
    """Exit 2 for a source no filesystem can open; with ``here``, exit 1 for a local path that does not exist."""
    import fsspec
    from fsspec.core import split_protocol

    from sluice.sources.files import filesystem

    if not source.strip():
        exit_with_error("the source is empty", hint=SOURCE_HINT, code=2)
    protocol = split_protocol(source)[0] or "file"
    if protocol not in fsspec.available_protocols():
        exit_with_error(f"bad source {source!r}: no filesystem for {protocol}://", hint=SOURCE_HINT, code=2)
    if not here:  # the worker's host resolves the path; it may have filesystems this one lacks
        return
    try:
        fs, path = filesystem(source, load_settings().storage_options)
    except SourceError as exc:
        exit_with_error(f"bad source {source!r}: {error_message(exc)}", hint=SOURCE_HINT, code=2)
    if protocol in ("file", "local") and not fs.exists(path):
        exit_with_error(f"source {source} does not exist", hint="check the path; nothing was run or recorded")


@contextlib.contextmanager
def _quiet_prefect_console() -> Iterator[None]:
    """Prefect's console log lines (INFO) off while the live display runs; warnings still show."""
    import logging

    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    handlers = {h for lg in loggers for h in getattr(lg, "handlers", []) if isinstance(h, PrefectConsoleHandler)}
    levels = {h: h.level for h in handlers}
    for handler in handlers:
        handler.setLevel(max(handler.level, logging.WARNING))
    try:
        yield
    finally:
        for handler, level in levels.items():
            handler.setLevel(level)


def _local_api(output: OutputFormat) -> PrefectApi:
    from prefect.settings import PREFECT_API_URL

    from demo.prefect_server import DEFAULT_API, ensure_server, healthy
    from ops.cli._flow_runs import PrefectApi

    url = PREFECT_API_URL.value() or None
    if url is None and not healthy(DEFAULT_API):
        note("starting a local Prefect server (the first start takes about 30 s)", output=output, style="dim")
    server = ensure_server(load_settings().home, api_url=url)
    if server.started:
        note(
            f"started a local Prefect server at {server.ui_url} (pid {server.pid}, log {server.log})",
            output=output,
            style="dim",
        )
    return PrefectApi(server.api_url, server.ui_url)


def _ingest_here(dataset: str, source: str, pattern: str, output: OutputFormat) -> IngestOutcome:
    from flows.ingest_files import ingest_files
    from flows.progress import listening
    from ops.cli._flow_runs import using
    from ops.cli._ingest_view import IngestView

    api = _local_api(output)
    view = IngestView(console, dataset, source)
    shown = view if output is OutputFormat.TABLE else contextlib.nullcontext()
    with using(api), _quiet_prefect_console(), listening(view.on_progress), shown:
        state = ingest_files(dataset, source, pattern=pattern, return_state=True)
    run_id = str(state.state_details.flow_run_id)
    outcome = IngestOutcome(dataset, source, pattern, None, run_id, api.flow_run_url(run_id), state.name or "")
    found: object
    try:
        found = state.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 - a crashed run's result may be unreadable: its error will do
        found = exc
    if state.is_completed() and isinstance(found, RunReport):
        outcome.report = found
        return outcome
    outcome.error = _error_text(found, state.message)
    outcome.hint = found.hint if isinstance(found, SluiceError) else ""
    outcome.report = _recorded_run(run_id)  # a run that failed after listing its source is recorded
    return outcome


def _error_text(found: object, message: str | None) -> str:
    if isinstance(found, BaseException):
        kind = (
            type(found).__qualname__
            if type(found).__module__ == "builtins"
            else (f"{type(found).__module__}.{type(found).__qualname__}")
        )
        text = error_message(found) if isinstance(found, SluiceError) else f"{kind}: {found}"
        return text.strip().splitlines()[0] if text.strip() else type(found).__name__
    return message or "the run did not complete"


def _create_run(name: str, parameters: dict[str, str]) -> Any:
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    try:
        return run_deployment(name, parameters=parameters, timeout=0, as_subflow=False)
    except ObjectNotFound:
        exit_with_error(
            f"no deployment {name} on this Prefect server",
            hint="`prefect deployment ls` lists them; `make run` registers orders-dev and customers-dev",
            code=2,
        )


@dataclass
class _Follower:
    """Prints the state changes of a followed run (stderr when stdout carries JSON)."""

    output: OutputFormat
    pool: str | None

    def changed(self, change: StateChange) -> None:
        detail = f": {change.message}" if change.message and not change.completed else ""
        note(f"{change.at:%H:%M:%S} {change.name}{detail}", output=self.output)

    def stalled(self, change: StateChange) -> None:
        pool = f" --pool {self.pool}" if self.pool else ""
        note(
            f"still {change.name}: no worker took the run yet; start one with `prefect worker start{pool}`",
            output=self.output,
            style="yellow",
        )


def _ingest_by_deployment(
    name: str, dataset: str, source: str, pattern: str, *, wait: bool, output: OutputFormat
) -> IngestOutcome:
    import httpx

    from ops.cli._flow_runs import follow, running_api, using

    api = running_api()
    with using(api):
        run = _create_run(name, {"dataset": dataset, "source": source, "pattern": pattern})
        outcome = IngestOutcome(
            dataset,
            source,
            pattern,
            name,
            str(run.id),
            api.flow_run_url(run.id),
            run.state.name if run.state else "Scheduled",
        )
        note(f"flow run {run.name} ({run.id}) of {name}: {outcome.flow_run_url}", output=output)
        if not wait:
            outcome.waited = False
            return outcome
        follower = _Follower(output, run.work_pool_name)
        try:
            final = follow(run.id, follower.changed, on_stall=follower.stalled)
        except httpx.HTTPError as exc:
            raise SluiceError(
                f"lost the Prefect API while following flow run {run.id}: {exc}",
                hint=f"the run goes on without this command: {outcome.flow_run_url}",
            ) from None
    outcome.state = final.name
    if not final.completed:
        outcome.error = final.message or f"the flow run ended {final.name}"
    outcome.report = _recorded_run(outcome.flow_run_id)
    return outcome


def _recorded_run(run_id: str | None) -> RunReport | None:
    """The run's record in this process's metadata store, or None (a worker may record runs elsewhere)."""
    from ops.cli._stores import metadata_store
    from sluice.runs.metastore import get_run

    if run_id is None:
        return None
    with metadata_store() as conn:
        return get_run(conn, run_id)


@with_cli_exception_handling
def ingest(
    dataset: Annotated[str, typer.Argument(help="The dataset: the name of its contract (e.g. orders).")],
    source: Annotated[str, typer.Argument(help="A folder or a file, or an object store prefix (s3://bucket/prefix).")],
    *,
    pattern: Annotated[str, typer.Option("--pattern", "-p", help="Only files whose names match this glob.")] = "*",
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="With --deployment: follow the run to its final state, or only create it and print its id and URL.",
        ),
    ] = True,
    deployment: Annotated[
        str | None,
        typer.Option(
            "--deployment",
            "-D",
            help="Run through this deployment of ingest-files (e.g. orders-dev) on a worker, not in this process.",
        ),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Ingest SOURCE into DATASET now: valid rows land in its Delta table, invalid rows in the quarantine.

    Exit 0 when the run completed, 1 when it failed (its incident is named), 2 on usage errors.
    """
    ensure_known_dataset(dataset)
    if deployment is None:
        if not wait:
            exit_with_error(
                "--no-wait needs --deployment: a run in this process ends with the command",
                hint=f"ops ingest {dataset} SOURCE --deployment NAME --no-wait",
                code=2,
            )
        _ensure_openable_source(source, here=True)
        outcome = _ingest_here(dataset, source, pattern, output)
    else:
        name = deployment_name(deployment)
        _ensure_openable_source(source, here=False)
        outcome = _ingest_by_deployment(name, dataset, source, pattern, wait=wait, output=output)
    finish(outcome, output)
