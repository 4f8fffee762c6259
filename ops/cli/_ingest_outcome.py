"""How ``ops ingest`` ends: the run's summary, its incident when it failed, what to do next, the exit code."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from ops.cli._utilities import (
    OutputFormat,
    cell,
    console,
    exit_with_error,
    print_json,
    print_table,
    warn,
)
from sluice.errors import SluiceError

if TYPE_CHECKING:
    from sluice.runs.records import RunReport

INCIDENT_WAIT_SECONDS = 10.0
"""How long to look for the incident of a deployment's failed run: the worker's hook opens it after the state."""


@dataclass
class IngestOutcome:
    """What one ``ops ingest`` did: the flow run, how it ended, its run record and incident."""

    dataset: str
    source: str
    pattern: str
    deployment: str | None
    flow_run_id: str | None
    flow_run_url: str | None
    state: str
    report: RunReport | None = None
    error: str = ""
    hint: str = ""
    incident: str | None = None
    waited: bool = True
    next: list[str] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        return self.waited and not self.error

    def to_json(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "source": self.source,
            "pattern": self.pattern,
            "deployment": self.deployment,
            "flow_run_id": self.flow_run_id,
            "flow_run_url": self.flow_run_url,
            "state": self.state,
            "waited": self.waited,
            "completed": self.completed,
            "run": self.report.to_dict() if self.report is not None else None,
            "incident": self.incident,
            "error": self.error or None,
            "next": self.next,
        }


def _incident_of(flow_run_id: str, wait_seconds: float) -> str | None:
    """The ref of the incident naming the flow run, looked for up to ``wait_seconds``; None if none (or no store)."""
    from ops.cli._stores import incident_session
    from ops.incidents.service import incident_of_flow_run

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with incident_session() as session:
                found = incident_of_flow_run(session, flow_run_id)
                if found is not None:
                    return found.ref
        except SluiceError as exc:
            warn(f"could not look for the run's incident: {exc.args[0]}")
            return None
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.5)


def _next_steps(outcome: IngestOutcome) -> list[str]:
    run_id = outcome.flow_run_id
    if not outcome.waited:
        return [f"prefect flow-run inspect {run_id}", f"ops runs show {run_id} (once it has run)"]
    steps = [f"ops incident show {outcome.incident}"] if outcome.incident else []
    steps.append(f"ops runs show {run_id}" if outcome.report is not None else f"prefect flow-run logs {run_id}")
    if outcome.report is not None and outcome.report.rows_quarantined:
        steps.append(f"ops quarantine list --run {run_id}")
    return steps


def summary_table(report: RunReport) -> tuple[Table, int]:
    """The run's row counts and lake version, and the table's natural width; every number whole."""
    from rich import box

    columns = [
        ("Read", report.rows_read),
        ("Written", report.rows_written),
        ("Quarantined", report.rows_quarantined),
        ("Duplicate", report.rows_duplicate),
        ("Lake version", report.lake_version),
    ]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0))  # the box divides columns by a space
    cells = [cell(value) for _, value in columns]
    natural = len(columns) + 1
    for (header, _), text in zip(columns, cells, strict=True):
        widest = max(len(header), len(text.plain))
        natural += widest
        table.add_column(header, justify="right", no_wrap=True, min_width=widest)
    table.add_row(*cells)
    return table, natural


def _headline(outcome: IngestOutcome) -> Text:
    report = outcome.report
    took = ""
    if report is not None and report.finished_at is not None:
        took = f" in {(report.finished_at - report.started_at).total_seconds():,.1f} s"
    style = "bold green" if outcome.completed else "bold red"
    return Text(f"{outcome.dataset}: {outcome.state.lower()}{took}", style=style)


def _print_summary(outcome: IngestOutcome) -> None:
    report = outcome.report
    console.print(_headline(outcome))
    if report is not None:
        table, natural = summary_table(report)
        print_table(table, natural)
        console.print(
            f"files: {len(report.files_committed):,} committed, {len(report.files_skipped):,} skipped, "
            f"{len(report.files_failed):,} failed"
        )
        for failed in report.files_failed:
            console.print(Text(f"failed: {failed.uri}: {failed.error}", style="red"), soft_wrap=True)
    elif outcome.flow_run_id:
        why = "its worker may record runs elsewhere" if outcome.deployment else "it ended before it was recorded"
        console.print(Text(f"no record of run {outcome.flow_run_id} in the metadata store ({why})", style="dim"))
    if outcome.flow_run_url:
        console.print(f"flow run: {outcome.flow_run_url}", soft_wrap=True)
    for i, step in enumerate(outcome.next):
        console.print(("next: " if i == 0 else "      ") + step, soft_wrap=True)


def finish(outcome: IngestOutcome, output: OutputFormat) -> None:
    """Print the outcome (summary or JSON) and exit: 0 completed or not waited for, 1 failed."""
    if outcome.waited and outcome.error and outcome.flow_run_id:
        wait = INCIDENT_WAIT_SECONDS if outcome.deployment else 0.0
        outcome.incident = _incident_of(outcome.flow_run_id, wait)
    outcome.next = _next_steps(outcome)
    if output is OutputFormat.JSON:
        print_json(outcome.to_json())
    elif outcome.waited:
        _print_summary(outcome)
    else:
        for i, step in enumerate(outcome.next):
            console.print(("next: " if i == 0 else "      ") + step, soft_wrap=True)
    if outcome.completed or not outcome.waited:
        return
    hints = [outcome.hint] if outcome.hint else []
    if outcome.incident:
        hints.append(f"its incident is {outcome.incident}: ops incident show {outcome.incident}")
    hints.append(
        f"ops runs show {outcome.flow_run_id}"
        if outcome.report is not None
        else f"prefect flow-run logs {outcome.flow_run_id}"
    )
    exit_with_error(f"ingestion of {outcome.dataset} {outcome.state.lower()}: {outcome.error}", hint="; ".join(hints))
