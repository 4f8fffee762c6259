"""What runs cost: measured bytes and seconds priced at the configured rates, summed by dataset, source, region or day.

Plain functions over run records (:class:`sluice.runs.records.RunReport`):

* read: ``bytes_read`` GB at the rate of the run's source kind and region;
* written: ``bytes_written`` GB (the Delta commit's add actions);
* CPU: the tasks' CPU seconds, in hours;
* memory: the workers' memory (``workers`` × their limit; the run's peak
  memory when no limit is recorded) held for the run's wall time, in GB-hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sluice.errors import SluiceError
from sluice.runs.records import RunReport
from sluice.settings import CostSettings

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

GB = 1_000_000_000
HOUR = 3600.0
NO_REGION = "-"


class CostBy(StrEnum):
    DATASET = "dataset"
    SOURCE = "source"
    REGION = "region"
    DAY = "day"


@dataclass(frozen=True)
class RunCost:
    """One run's measured use and its price at the rates."""

    run_id: str
    dataset: str
    source_kind: str
    region: str
    day: str
    bytes_read: int
    bytes_written: int
    cpu_seconds: float
    wall_seconds: float
    memory_gb_hours: float
    read_cost: float
    write_cost: float
    cpu_cost: float
    memory_cost: float
    measured: bool  # False: recorded before runs measured their use (only rows and bytes read are known)
    read_priced: bool  # False: no rate for its source kind (or region), so its reads count 0

    @property
    def total(self) -> float:
        return self.read_cost + self.write_cost + self.cpu_cost + self.memory_cost


@dataclass(frozen=True)
class CostLine:
    """The sums of a group of runs (or of all: ``key`` is ``total``)."""

    key: str
    runs: int
    bytes_read: int
    bytes_written: int
    cpu_seconds: float
    wall_seconds: float
    memory_gb_hours: float
    read_cost: float
    write_cost: float
    cpu_cost: float
    memory_cost: float
    total_cost: float

    @classmethod
    def of(cls, key: str, costs: Sequence[RunCost]) -> CostLine:
        return cls(
            key=key,
            runs=len(costs),
            bytes_read=sum(c.bytes_read for c in costs),
            bytes_written=sum(c.bytes_written for c in costs),
            cpu_seconds=sum(c.cpu_seconds for c in costs),
            wall_seconds=sum(c.wall_seconds for c in costs),
            memory_gb_hours=sum(c.memory_gb_hours for c in costs),
            read_cost=sum(c.read_cost for c in costs),
            write_cost=sum(c.write_cost for c in costs),
            cpu_cost=sum(c.cpu_cost for c in costs),
            memory_cost=sum(c.memory_cost for c in costs),
            total_cost=sum(c.total for c in costs),
        )


@dataclass(frozen=True)
class CostReport:
    """Runs finished in ``[since, until]``, priced, by ``by``; the lines by cost, highest first."""

    since: datetime
    until: datetime
    by: CostBy
    dataset: str | None
    currency: str
    lines: tuple[CostLine, ...]
    total: CostLine
    unmeasured_runs: int
    unpriced_sources: tuple[str, ...]


def memory_bytes(run: RunReport) -> int:
    """The memory a run held: its workers times their limit, else its peak memory (0 if neither is recorded)."""
    if run.workers and run.worker_memory_bytes:
        return run.workers * run.worker_memory_bytes
    return run.peak_memory_bytes


def price_run(run: RunReport, rates: CostSettings) -> RunCost:
    """``run``'s measured use priced at ``rates``."""
    read_rate = rates.read_rate(run.source_kind, run.source_region)
    memory_gb_hours = memory_bytes(run) / GB * run.wall_seconds / HOUR
    day = (run.finished_at or run.started_at).date().isoformat()
    return RunCost(
        run_id=run.run_id,
        dataset=run.dataset,
        source_kind=run.source_kind or "unknown",
        region=run.source_region or NO_REGION,
        day=day,
        bytes_read=run.bytes_read,
        bytes_written=run.bytes_written,
        cpu_seconds=run.cpu_seconds,
        wall_seconds=run.wall_seconds,
        memory_gb_hours=memory_gb_hours,
        read_cost=run.bytes_read / GB * (read_rate or 0.0),
        write_cost=run.bytes_written / GB * rates.written_per_gb,
        cpu_cost=run.cpu_seconds / HOUR * rates.cpu_hour,
        memory_cost=memory_gb_hours * rates.memory_gb_hour,
        measured=bool(run.read_measure),
        read_priced=read_rate is not None,
    )


def group_key(cost: RunCost, by: CostBy) -> str:
    if by is CostBy.DATASET:
        return cost.dataset
    if by is CostBy.SOURCE:
        return cost.source_kind
    if by is CostBy.REGION:
        return f"{cost.source_kind}:{cost.region}" if cost.region != NO_REGION else cost.source_kind
    return cost.day


def cost_report(
    runs: Iterable[RunReport],
    rates: CostSettings,
    *,
    by: CostBy,
    since: datetime,
    until: datetime,
    dataset: str | None = None,
) -> CostReport:
    """Price the finished ``runs`` of ``[since, until]`` (of ``dataset`` only, if given) and sum them by ``by``."""
    costs = [
        price_run(r, rates)
        for r in runs
        if r.finished_at is not None and since <= r.finished_at <= until and dataset in (None, r.dataset)
    ]
    groups: dict[str, list[RunCost]] = {}
    for cost in costs:
        groups.setdefault(group_key(cost, by), []).append(cost)
    lines = sorted((CostLine.of(k, g) for k, g in groups.items()), key=lambda line: (-line.total_cost, line.key))
    if by is CostBy.DAY:
        lines.sort(key=lambda line: line.key)
    return CostReport(
        since=since,
        until=until,
        by=by,
        dataset=dataset,
        currency=rates.currency,
        lines=tuple(lines),
        total=CostLine.of("total", costs),
        unmeasured_runs=sum(not c.measured for c in costs),
        unpriced_sources=tuple(sorted({c.source_kind for c in costs if not c.read_priced and c.bytes_read})),
    )


def load_runs(conn: Connection, *, since: datetime) -> list[RunReport]:
    """The runs the metadata store records as finished since ``since``.

    Raises:
        SluiceError: a run record cannot be read (a value that is not JSON, an unknown file status); it names why.
    """
    from sluice.runs.metastore import finished_runs

    try:
        return finished_runs(conn, since=since)
    except (ValueError, TypeError, KeyError) as exc:  # json.JSONDecodeError is a ValueError
        raise SluiceError(
            f"a run record in the metadata store cannot be read: {type(exc).__name__}: {exc}",
            hint="`ops runs list` shows the runs; repair or delete the broken record (ingest_runs, ingest_files)",
        ) from None
