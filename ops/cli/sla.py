"""``ops sla``: the consumers' freshness and accuracy SLAs, judged from the run records.

Consumers and their thresholds are declared in each contract's ``consumers:``
(see ``sluice/validate/consumers.py``); ``ops sla report`` says who was let
down, when and for how long (``sluice/runs/sla.py`` explains the rules).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._stores import metadata_store
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

if TYPE_CHECKING:
    from sluice.runs.sla import ConsumerSla
    from sluice.validate.consumers import Consumer

app = typer.Typer(help="Consumer SLAs: who was let down by a dataset's freshness or accuracy, when and for how long.")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours < 48 else f"{hours // 24}d{hours % 24:02d}h"


def _worst(promise: str, value: float) -> str:
    return _duration(value) if promise == "freshness" else f"{value:.2%}"


def _declared(root: Path, dataset: str | None, output: OutputFormat) -> dict[str, list[Consumer]]:
    """The consumers each contract declares; without ``dataset`` a contract that does not load is noted, skipped."""
    from sluice.errors import ContractError
    from sluice.validate.contracts import available_contracts, find_contract

    if dataset:
        return {dataset: list(find_contract(dataset, root).consumers)}
    found: dict[str, list[Consumer]] = {}
    for name in available_contracts(root):
        try:
            declared = list(find_contract(name, root).consumers)
        except ContractError as exc:
            note(f"skipped contract {name}: {exc}", output=output, style="yellow")
            continue
        if declared:
            found[name] = declared
    return found


def _print_report(found: list[ConsumerSla], environment: str, start: datetime, until: datetime) -> None:
    print_fitted(
        [text("Consumer", min_width=10), key("Dataset"), number("Spans"), number("Let down"), number("Share")],
        [
            [
                cell(s.consumer),
                cell(s.dataset),
                cell(len(s.letdowns)),
                _duration(s.seconds_let_down),
                f"{s.seconds_let_down / max((until - start).total_seconds(), 1):.1%}",
            ]
            for s in found
        ],
        title=f"Consumer SLAs in {environment}, {start:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC",
    )
    spans = [d for s in found for d in s.letdowns]
    if not spans:
        return
    print_fitted(
        [
            text("Consumer", min_width=10),
            key("Promise"),
            key("From (UTC)"),
            key("For"),
            number("Worst"),
            number("Limit"),
        ],
        [
            [
                cell(d.consumer),
                cell(d.promise.value),
                cell(f"{d.start:%Y-%m-%d %H:%M}"),
                _duration(d.seconds) + (" (ongoing)" if d.ongoing else ""),
                _worst(d.promise, d.worst),
                _worst(d.promise, d.threshold),
            ]
            for d in spans
        ],
        title="When they were let down",
    )


def _start(since: str, until: datetime) -> datetime:
    """``--since`` as a duration back from ``until`` (7d) or an ISO 8601 time (UTC without an offset)."""
    from ops.metrics.errors import DurationError
    from ops.metrics.timerange import parse_duration, parse_time

    try:
        return until - parse_duration(since)
    except DurationError:
        pass
    try:
        return min(parse_time(since, now=until), until)
    except DurationError:
        raise typer.BadParameter(
            f"{since!r} is neither a duration (7d, 24h) nor an ISO 8601 time", param_hint="--since"
        ) from None


@app.command("report")
@with_cli_exception_handling
def report(
    *,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset's consumers.")] = None,
    since: Annotated[
        str, typer.Option("--since", help="How far back (24h, 7d, 30d) or from when (ISO 8601, UTC without an offset).")
    ] = "7d",
    env: Annotated[str | None, typer.Option("--env", help="The environment's runs. (default: SLUICE_ENV)")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Per consumer: each span its freshness or accuracy promise was broken, and the time let down in all."""
    from sluice.runs.metastore import finished_runs
    from sluice.runs.sla import sla_report

    settings = load_settings()
    until = datetime.now(timezone.utc)
    start = _start(since, until)
    consumers = _declared(settings.contracts_root(), dataset, output)
    environment = env or settings.env
    with metadata_store() as conn:
        runs = [r for r in finished_runs(conn) if r.env == environment and r.dataset in consumers]
    found = sla_report(runs, consumers, start, until)
    if output is OutputFormat.JSON:
        print_json(found)
    elif not found:
        exit_with_success("no contract declares consumers" + (f" for {dataset}" if dataset else ""))
    else:
        _print_report(found, environment, start, until)
