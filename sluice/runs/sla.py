"""Consumer SLAs judged from the run records: when each consumer of a dataset was let down, and for how long.

A contract's consumers (:mod:`sluice.validate.consumers`) each promise some of:

* **freshness**: at any instant ``t`` the data is as new as the newest
  delivery so far: its watermark (newest event time) when the run recorded
  one, else its finish. A completed run that wrote rows is a delivery; failed
  runs deliver nothing. The consumer is let down from ``newest + freshness``
  until a delivery brings data newer than ``t - freshness`` back.
* **max_quarantined_share**: a completed run whose quarantined rows are more
  than this share of the rows it read lets the consumer down from its finish
  until the next completed run that is within it.
* **max_orphan_rate**: the same with rows whose referenced parent was
  missing (the run's ``orphan_reference`` warnings) over the rows read.

Spans are clipped to the report's ``[since, until]``; one still open at
``until`` has ``ongoing`` set.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sluice.runs.records import RunReport
from sluice.validate.consumers import Consumer

ORPHAN_WARNING = "orphan_reference"


class Promise(enum.StrEnum):
    FRESHNESS = "freshness"
    QUARANTINED_SHARE = "quarantined_share"
    ORPHAN_RATE = "orphan_rate"


@dataclass(frozen=True)
class Letdown:
    """One span during which a consumer's promise was broken."""

    consumer: str
    dataset: str
    promise: Promise
    start: datetime
    end: datetime
    ongoing: bool
    worst: float  # the worst value in the span: the data's age in seconds, or the share
    threshold: float
    seconds: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds", (self.end - self.start).total_seconds())


@dataclass(frozen=True)
class ConsumerSla:
    """A consumer of one dataset over the report's range: its spans and how long it was let down in all."""

    consumer: str
    dataset: str
    letdowns: list[Letdown]
    seconds_let_down: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds_let_down", sum(d.seconds for d in self.letdowns))


def _deliveries(runs: Sequence[RunReport]) -> list[RunReport]:
    done = [r for r in runs if r.status == "completed" and r.finished_at is not None]
    return sorted(done, key=lambda r: r.finished_at or r.started_at)


def _data_time(run: RunReport) -> datetime:
    if run.watermark is not None:
        return run.watermark if run.watermark.tzinfo else run.watermark.replace(tzinfo=run.started_at.tzinfo)
    return run.finished_at or run.started_at


def _clip(
    consumer: str,
    dataset: str,
    promise: Promise,
    span: tuple[datetime, datetime, float],
    threshold: float,
    since: datetime,
    until: datetime,
) -> Letdown | None:
    start, end, worst = span
    if end <= since or start >= until or end <= start:
        return None
    return Letdown(consumer, dataset, promise, max(start, since), min(end, until), end >= until, worst, threshold)


def freshness_spans(
    runs: Sequence[RunReport], freshness: timedelta, until: datetime
) -> list[tuple[datetime, datetime, float]]:
    """The spans, up to ``until``, when the newest delivered data was older than ``freshness``, with the worst age."""
    spans: list[tuple[datetime, datetime, float]] = []
    newest: datetime | None = None
    deliveries = [r for r in _deliveries(runs) if r.rows_written > 0]
    for i, run in enumerate(deliveries):
        newest = max(newest, _data_time(run)) if newest else _data_time(run)
        upto = deliveries[i + 1].finished_at if i + 1 < len(deliveries) else until
        at, stale = run.finished_at, newest + freshness
        if upto is None or at is None:
            continue
        begin = max(stale, at)
        if begin < upto:
            worst = (upto - newest).total_seconds()
            if spans and spans[-1][1] == begin:
                spans[-1] = (spans[-1][0], upto, max(spans[-1][2], worst))
            else:
                spans.append((begin, upto, worst))
    return spans


def share_spans(
    runs: Sequence[RunReport], share: Callable[[RunReport], float | None], limit: float, until: datetime
) -> list[tuple[datetime, datetime, float]]:
    """The spans from a run whose ``share`` is above ``limit`` to the next run within it, with the worst share."""
    spans: list[tuple[datetime, datetime, float]] = []
    open_at: datetime | None = None
    worst = 0.0
    for run in _deliveries(runs):
        value, at = share(run), run.finished_at
        if value is None or at is None:
            continue
        if value > limit:
            open_at, worst = open_at or at, max(worst, value) if open_at else value
        elif open_at is not None:
            spans.append((open_at, at, worst))
            open_at = None
    if open_at is not None:
        spans.append((open_at, max(until, open_at), worst))
    return spans


def quarantined_share(run: RunReport) -> float | None:
    return run.rows_quarantined / run.rows_read if run.rows_read else None


def orphan_rate(run: RunReport) -> float | None:
    return run.warnings.get(ORPHAN_WARNING, 0) / run.rows_read if run.rows_read else None


def consumer_sla(
    dataset: str, consumer: Consumer, runs: Sequence[RunReport], since: datetime, until: datetime
) -> ConsumerSla:
    """How ``consumer`` of ``dataset`` fared in ``[since, until]``, from the dataset's runs (all of them, any order)."""
    found: list[tuple[Promise, tuple[datetime, datetime, float], float]] = []
    if consumer.freshness is not None:
        limit = consumer.freshness.total_seconds()
        found += [(Promise.FRESHNESS, s, limit) for s in freshness_spans(runs, consumer.freshness, until)]
    if consumer.max_quarantined_share is not None:
        limit = consumer.max_quarantined_share
        found += [(Promise.QUARANTINED_SHARE, s, limit) for s in share_spans(runs, quarantined_share, limit, until)]
    if consumer.max_orphan_rate is not None:
        limit = consumer.max_orphan_rate
        found += [(Promise.ORPHAN_RATE, s, limit) for s in share_spans(runs, orphan_rate, limit, until)]
    letdowns = [_clip(consumer.name, dataset, p, s, t, since, until) for p, s, t in found]
    kept = sorted((d for d in letdowns if d is not None), key=lambda d: (d.start, d.promise.value))
    return ConsumerSla(consumer.name, dataset, kept)


def sla_report(
    runs: Sequence[RunReport], consumers: dict[str, list[Consumer]], since: datetime, until: datetime
) -> list[ConsumerSla]:
    """Every consumer of every dataset in ``consumers`` (by dataset), judged from ``runs`` (any datasets)."""
    by_dataset: dict[str, list[RunReport]] = {}
    for run in runs:
        by_dataset.setdefault(run.dataset, []).append(run)
    return [
        consumer_sla(dataset, consumer, by_dataset.get(dataset, []), since, until)
        for dataset, declared in sorted(consumers.items())
        for consumer in declared
    ]
