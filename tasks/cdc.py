"""Tasks of the ``capture-changes`` flow: make sure the slot exists, capture into the lake, read the slot's lag.

The capture task drains the slot (``follow_s=0``: up to the server's WAL
position when it starts, so it ends under a steady write load too) or
follows it for ``follow_s`` seconds (``None``: until the run is cancelled),
polling every ``idle_sleep_s`` when idle and writing a heartbeat when a
quiet slot lags ``heartbeat_bytes`` or more. Every batch is the capture's
protocol: peek, commit to the lake, only then advance the slot
(:mod:`sluice.sources.cdc.capture`), so a run killed anywhere loses and
doubles nothing. Each committed batch goes into the flow's
:class:`CaptureLedger` as soon as it is committed, so a run that fails after
committing some batches (on any retry) records what it committed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from sluice.settings import get_settings
from sluice.sources.cdc import slots
from sluice.sources.cdc.capture import BatchReport, CaptureSpec, capture_batch
from sluice.sources.cdc.decode import TableRef
from sluice.sources.cdc.referenced import CheckedSink, OrphanCounts, checked
from sluice.sources.cdc.sink import ChangeSink, ChangesTable, KeyedTable, make_sink
from sluice.sources.cdc.slots import SlotInfo
from sluice.validate.contracts import Contract
from tasks.retry import TRANSIENT_RETRIES


@dataclass(frozen=True)
class CaptureRequest:
    """One capture: the server, slot, table, how long to run, and the batch size in decoded rows."""

    dsn: str
    slot: str
    schema: str
    table: str
    batch_changes: int = 10_000
    follow_s: float | None = 0.0  # 0: drain and stop; None: until cancelled
    idle_sleep_s: float = 1.0
    heartbeat_bytes: int = 1 << 20


@dataclass
class CaptureOutcome:
    """What a capture task did: its batches, their orphans (by position), and the heartbeats it wrote."""

    batches: list[BatchReport] = field(default_factory=list)
    heartbeats: int = 0
    seconds: float = 0.0
    orphans: list[OrphanCounts] = field(default_factory=list)  # per batch, when the contract has references


class CaptureLedger:
    """Every batch a flow run's capture committed, over all of the task's attempts, failed ones included.

    A plain class on purpose: Prefect passes it to the task as it is (it
    rebuilds dataclasses and lists among task parameters), so the flow reads
    what the task added even when the task fails.
    """

    def __init__(self) -> None:
        self.batches: list[BatchReport] = []
        self.orphans: list[OrphanCounts] = []

    def add(self, report: BatchReport, orphans: OrphanCounts | None = None) -> None:
        self.batches.append(report)
        self.orphans.append(orphans or OrphanCounts())


def lake_sink(contract: Contract, run_id: str | None = None) -> ChangeSink:
    """The sink of the dataset's changes in this environment's lake, under its lease.

    A contract with ``references`` gets a sink that checks them (:mod:`sluice.sources.cdc.referenced`).
    """
    from sluice.runs.metastore import engine_for

    settings = get_settings()
    sink = make_sink(
        contract,
        lake_root=settings.lake_root(),
        staging_root=settings.staging_root(),
        quarantine_uri=settings.quarantine_root(),
        engine=engine_for(settings.metadata_db_url()),
        storage_options=dict(settings.lake_storage_options) or None,
        run_id=run_id,
    )
    if contract.references and isinstance(sink, ChangesTable | KeyedTable):
        return checked(sink)  # references checked per batch (sluice.sources.cdc.referenced)
    return sink


def _counts(sink: ChangeSink) -> OrphanCounts:
    """The orphans of the batch ``sink`` wrote last (none for a sink that checks no reference)."""
    return sink.counts if isinstance(sink, CheckedSink) else OrphanCounts()


def _reset(sink: ChangeSink) -> None:
    if isinstance(sink, CheckedSink):
        sink.counts = OrphanCounts()


@task(name="prepare-slot", task_run_name="prepare-slot-{slot}", **TRANSIENT_RETRIES)
def prepare_slot(dsn: str, slot: str, create: bool) -> bool:
    """Check the server can decode, and create the wal2json slot if asked and missing; True when created."""
    with slots.connect(dsn, slot) as conn:
        slots.check_server(conn)
        if create:
            return slots.create_slot(conn, slot)
        slots.slot_info(conn, slot)  # a missing slot fails here, with how to create it
        return False


def follow(
    spec: CaptureSpec, sink: ChangeSink, req: CaptureRequest, ledger: CaptureLedger | None = None
) -> CaptureOutcome:
    """Capture until the slot reaches the server's position at the start (``follow_s=0``), or for ``follow_s``
    seconds (``None``: forever). Either way the run ends under a steady write load.

    Each committed batch is also added to ``ledger`` at once."""
    out, clock = CaptureOutcome(), time.monotonic()
    keep = ledger or CaptureLedger()
    with slots.connect(spec.dsn, spec.slot) as conn:
        slots.check_server(conn)
        if req.follow_s == 0:
            _drain(conn, spec, sink, slots.slot_info(conn, spec.slot).current_lsn, out, keep)
        else:
            _follow(conn, spec, sink, req, None if req.follow_s is None else clock + req.follow_s, out, keep)
    out.seconds = time.monotonic() - clock
    return out


def _keep(out: CaptureOutcome, ledger: CaptureLedger, report: BatchReport, orphans: OrphanCounts) -> None:
    out.batches.append(report)
    out.orphans.append(orphans)
    ledger.add(report, orphans)


def _drain(
    conn: Any, spec: CaptureSpec, sink: ChangeSink, target: int, out: CaptureOutcome, ledger: CaptureLedger
) -> None:
    while True:
        _reset(sink)
        report = capture_batch(conn, spec, sink)
        if not report.transactions:
            return
        _keep(out, ledger, report, _counts(sink))
        if report.slot_lsn is not None and report.slot_lsn >= target:
            return


def _follow(
    conn: Any,
    spec: CaptureSpec,
    sink: ChangeSink,
    req: CaptureRequest,
    deadline: float | None,
    out: CaptureOutcome,
    ledger: CaptureLedger,
) -> None:
    while deadline is None or time.monotonic() < deadline:
        _reset(sink)
        report = capture_batch(conn, spec, sink)
        if report.transactions:
            _keep(out, ledger, report, _counts(sink))
            continue
        info = slots.slot_info(conn, spec.slot)
        if info.lag_bytes is not None and info.lag_bytes >= req.heartbeat_bytes:
            slots.heartbeat(conn)
            out.heartbeats += 1
        left = req.idle_sleep_s if deadline is None else deadline - time.monotonic()
        time.sleep(max(0.0, min(req.idle_sleep_s, left)))


@task(name="capture-changes", task_run_name="capture-{req.slot}", **TRANSIENT_RETRIES)
def capture_into_lake(
    req: CaptureRequest, contract: Contract, ledger: CaptureLedger | None = None, run_id: str | None = None
) -> CaptureOutcome:
    """Capture the slot's changes of one table into the dataset's lake table (see the module doc)."""
    spec = CaptureSpec(req.dsn, req.slot, TableRef(req.schema, req.table, contract), req.batch_changes)
    outcome = follow(spec, lake_sink(contract, run_id), req, ledger)
    get_run_logger().info(
        "slot %s: %d batch(es), %d change(s), %d heartbeat(s)",
        req.slot,
        len(outcome.batches),
        sum(b.changes for b in outcome.batches),
        outcome.heartbeats,
    )
    return outcome


@task(name="read-slot-lag", task_run_name="lag-{slot}", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_slot_lag(dsn: str, slot: str) -> SlotInfo:
    """The slot's lag in bytes and seconds, as the capture leaves it."""
    with slots.connect(dsn, slot) as conn:
        return slots.slot_info(conn, slot, with_seconds=True)
