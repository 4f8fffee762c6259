"""The options and helpers the metric-reading commands share: selectors, time ranges, the metrics store."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._utilities import load_settings

if TYPE_CHECKING:
    from ops.metrics.models import Selector
    from ops.metrics.store import MetricsStore
    from ops.metrics.timerange import TimeRange

SELECTOR_HELP = 'A series selector such as sluice_rows_read{dataset="orders"}; =, !=, =~ and !~ match labels.'
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Look back this far from --end or now: 30s, 15m, 1h, 2d, 1w. (default: 1h)"),
]
StartOption = Annotated[str | None, typer.Option("--start", help="Start of the range, ISO 8601 (UTC if no offset).")]
EndOption = Annotated[str | None, typer.Option("--end", help="End of the range, ISO 8601 or 'now'. (default: now)")]
StepOption = Annotated[
    str | None,
    typer.Option(
        "--step", help="Downsample to one point per step (the last in each step), e.g. 1m. (default: every point)"
    ),
]


def parse_selector(text: str | None) -> Selector:
    from ops.metrics.errors import SelectorError
    from ops.metrics.models import Selector

    if text is None:
        return Selector()
    try:
        return Selector.parse(text)
    except SelectorError as exc:
        raise typer.BadParameter(f"{exc.args[0]}; {exc.hint}", param_hint="SELECTOR") from None


def parse_time_range(since: str | None, start: str | None, end: str | None) -> TimeRange:
    from ops.metrics.errors import DurationError
    from ops.metrics.timerange import TimeRange

    try:
        return TimeRange.resolve(since=since, start=start, end=end)
    except DurationError as exc:
        hint = "--since" if since and not start else "--start/--end"
        raise typer.BadParameter(f"{exc.args[0]}; {exc.hint}", param_hint=hint) from None


def parse_step(text: str | None) -> timedelta | None:
    from ops.metrics.errors import DurationError
    from ops.metrics.timerange import parse_duration

    try:
        return parse_duration(text) if text else None
    except DurationError as exc:
        raise typer.BadParameter(f"{exc.args[0]}; {exc.hint}", param_hint="--step") from None


def metrics_store() -> MetricsStore:
    from ops.metrics.store import open_store

    return open_store(home=load_settings().home)


def labels_text(labels: dict[str, str]) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
