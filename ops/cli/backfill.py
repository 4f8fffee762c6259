"""``ops backfill``: one flow run per day of a date range through a dataset's ingest-files deployment.

The day's source is ``--source`` with its ``{date}`` field filled in
(``/data/orders/{date}`` or ``s3://drop/orders/{date:%Y/%m/%d}``). Days a
Completed run of the deployment already ingested (same source and pattern)
are skipped, so a re-run after a failure or an interruption runs only the rest;
``--rerun`` runs them again, which changes nothing in the lake (files a run
committed are skipped). Days whose run of an interrupted backfill is still
scheduled, pending or running are followed, not created again. Every day's
run is created at once; at most ``--concurrency`` of them ingest at a time,
each holding a slot of the Prefect global concurrency limit
``backfill-DATASET``, which the command creates or sets to ``--concurrency``
(it bounds every backfill of the dataset, from any shell).

Exit codes: 0 every day completed (or was done), 1 a day's run did not
complete or the API cannot be reached, 2 usage errors (an unknown dataset or
deployment, a bad range or source template).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ops.cli._backfill_runs import DayRun, DayRuns, completed_sources, ensure_limit, unfinished_runs
from ops.cli._ingest_deployments import deployment_name, ensure_known_dataset
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    console,
    err_console,
    exit_with_error,
    load_settings,
    new_table,
    note,
    print_json,
    print_table,
    with_cli_exception_handling,
)
from sluice.errors import ConfigError
from sluice.runs.backfill import BackfillPlan, plan_backfill


@dataclass
class BackfillOutcome:
    """What ``--output json`` prints: the deployment, the range and every day's run."""

    dataset: str
    deployment: str
    first_day: str
    last_day: str
    concurrency: int
    days: list[DayRun] = field(default_factory=list)

    @property
    def failed(self) -> list[DayRun]:
        return [d for d in self.days if not d.completed]

    def as_json(self) -> dict[str, object]:
        counts = {
            "ran": sum(d.state != "Skipped" for d in self.days),
            "skipped": sum(d.state == "Skipped" for d in self.days),
            "resumed": sum(d.resumed for d in self.days),
        }
        return {**self.__dict__, **counts, "failed": len(self.failed), "completed": not self.failed}


@dataclass(frozen=True)
class _Found:
    """The plan and the runs of an interrupted backfill of the same dataset still under way."""

    plan: BackfillPlan
    under_way: dict[tuple[str, str], Any]


def _plan(dataset: str, name: str, source: str, pattern: str, first: datetime, last: datetime, rerun: bool) -> _Found:
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            exit_with_error(
                f"no deployment {name} on this Prefect server",
                hint="`prefect deployment ls` lists them; `make run` registers orders-dev and customers-dev",
                code=2,
            )
        done = set() if rerun else completed_sources(client, deployment.id)
        under_way = unfinished_runs(client, deployment.id, dataset)
    try:
        return _Found(plan_backfill(source, first.date(), last.date(), pattern, done), under_way)
    except ConfigError as exc:
        exit_with_error(str(exc.args[0]), hint=exc.hint, code=2)


def _run(outcome: BackfillOutcome, found: _Found, output: OutputFormat) -> list[DayRun]:
    from prefect import get_client

    target = err_console if output is OutputFormat.JSON else console
    columns = (TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=target, transient=False) as progress:
        plan = found.plan
        bar = progress.add_task(f"{outcome.dataset} days", total=len(plan.slices), completed=len(plan.skipped))
        failed = 0

        def done(day: DayRun) -> None:
            nonlocal failed
            failed += not day.completed
            progress.update(bar, advance=1, description=f"{outcome.dataset} days ({failed} failed)" if failed else None)
            if not day.completed:
                progress.console.print(f"{day.day} {day.state}: {day.message or 'the run did not complete'}")

        with get_client(sync_client=True) as client:
            limit = ensure_limit(client, outcome.dataset, outcome.concurrency)
            runs = DayRuns(outcome.deployment, outcome.dataset, limit, done)
            return runs.run(client, plan.to_run, found.under_way)


def _print_table(outcome: BackfillOutcome) -> None:
    table = new_table("Day", "State", "Flow run", "Message", fold=("Message",))
    for day in outcome.days:
        table.add_row(cell(day.day), cell(day.state), cell(day.flow_run_name), cell(day.message))
    print_table(table, 80)


@with_cli_exception_handling
def backfill(
    dataset: Annotated[str, typer.Argument(help="The dataset: the name of its contract (e.g. orders).")],
    first: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="The first day (included).")],
    last: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="The last day (included).")],
    source: Annotated[
        str,
        typer.Option("--source", "-s", help="Each day's folder or prefix, with {date} or {date:%Y/%m/%d} in it."),
    ],
    pattern: Annotated[str, typer.Option("--pattern", "-p", help="Only files whose names match this glob.")] = "*",
    deployment: Annotated[
        str | None,
        typer.Option("--deployment", "-D", help="The ingest-files deployment (default DATASET-ENV, e.g. orders-dev)."),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-c", min=1, max=64, help="At most this many runs ingest at once (the limit)."),
    ] = 2,
    rerun: Annotated[bool, typer.Option("--rerun", help="Run the days a completed run already ingested too.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Ingest DATASET one day at a time from --from to --to through its deployment, skipping the days done.

    Exit 0 when every day completed, 1 when a day's run did not, 2 on usage errors.
    """
    from ops.cli._flow_runs import running_api, using

    ensure_known_dataset(dataset)
    name = deployment_name(deployment or f"{dataset}-{load_settings().env}")
    with using(running_api()):
        found = _plan(dataset, name, source, pattern, first, last, rerun)
        plan = found.plan
        outcome = BackfillOutcome(
            dataset, name, plan.slices[0].day.isoformat(), plan.slices[-1].day.isoformat(), concurrency
        )
        resumed = sum((s.source, s.pattern) in found.under_way for s in plan.to_run)
        note(
            f"{name}: {len(plan.to_run)} day(s) to run ({resumed} under way already), {len(plan.skipped)} done already",
            output=output,
        )
        ran = {d.day: d for d in _run(outcome, found, output)} if plan.to_run else {}
    outcome.days = [ran.get(s.day.isoformat()) or DayRun(s.day.isoformat(), s.source, "Skipped") for s in plan.slices]
    if output is OutputFormat.JSON:
        print_json(outcome.as_json())
    else:
        _print_table(outcome)
    if outcome.failed:
        exit_with_error(
            f"{len(outcome.failed)} of {len(outcome.days)} day(s) did not complete",
            hint="`prefect flow-run inspect ID` shows a run; run the same command again: completed days are skipped",
        )
    note(f"next: ops runs list --dataset {dataset}", output=output)
