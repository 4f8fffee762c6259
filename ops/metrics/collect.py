"""Pipeline metrics derived from the run records of the metadata store.

Every finished run gives one sample of each run metric, stamped at its finish
time and labelled ``dataset``, ``flow`` (the flow that made the run:
``ingest-files``, ``ingest-table`` or ``capture-changes``, as the run
recorded it; for runs recorded before runs named their flow, told by the
source) and ``environment``. ``sluice_freshness_seconds`` is stamped at
collection time: how old each dataset's newest watermark is then, per flow. Collection is idempotent: a sample whose
``(metric, labels, ts)`` the store already holds is not written again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ops.metrics.models import Sample, Selector, labels_key, to_ns, utc
from ops.metrics.store import MetricsStore
from sluice.runs.metastore import finished_runs, ingest_runs
from sluice.runs.records import RunReport
from sluice.sources.cdc.sink import SOURCE_PREFIX as CDC_SOURCE_PREFIX
from sluice.sources.database import Dialect

FLOW = "ingest-files"
TABLE_FLOW = "ingest-table"
CDC_FLOW = "capture-changes"
ROWS_READ = "sluice_rows_read"
ROWS_WRITTEN = "sluice_rows_written"
ROWS_QUARANTINED = "sluice_rows_quarantined"
ROWS_DUPLICATE = "sluice_rows_duplicate"
QUARANTINE_RATE = "sluice_quarantine_rate"
RUN_DURATION = "sluice_run_duration_seconds"
RUN_FAILED = "sluice_run_failed"
THROUGHPUT = "sluice_throughput_rows_per_second"
FRESHNESS = "sluice_freshness_seconds"
FRESHNESS_SLA_RATIO = "sluice_freshness_sla_ratio"
SOURCE_LAG = "sluice_source_lag_seconds"
# Referential integrity (sluice.validate.references), for runs of datasets whose contract declares references:
# rows whose parent was missing (any policy), their share of the rows read, and rows kept back for a parent.
ROWS_ORPHANED = "sluice_rows_orphaned"
ORPHAN_RATE = "sluice_orphan_rate"
ROWS_HELD = "sluice_rows_held"
REFERENCE_METRICS = (ROWS_ORPHANED, ORPHAN_RATE, ROWS_HELD)
PIPELINE_METRICS = (
    ROWS_READ,
    ROWS_WRITTEN,
    ROWS_QUARANTINED,
    ROWS_DUPLICATE,
    QUARANTINE_RATE,
    RUN_DURATION,
    RUN_FAILED,
    THROUGHPUT,
    FRESHNESS,
    FRESHNESS_SLA_RATIO,
)


def run_flow(source: str) -> str:
    """The flow whose runs record ``source``: change capture (``postgres-cdc:``), a database URL, or files."""
    if source.startswith(CDC_SOURCE_PREFIX):
        return CDC_FLOW
    if any(source.startswith(f"{d.value}://") for d in Dialect):
        return TABLE_FLOW
    return FLOW


def report_flow(report: RunReport) -> str:
    """The flow a run recorded, or for a run that recorded none, the one its source tells."""
    return report.flow or run_flow(report.source)


def pipeline_labels(dataset: str, environment: str, flow: str = FLOW) -> dict[str, str]:
    return {"dataset": dataset, "flow": flow, "environment": environment}


def run_samples(report: RunReport) -> list[Sample]:
    """The run metrics of one finished run, stamped at its finish time; none for a run still going.

    The quarantine rate needs rows read, the throughput a positive duration and
    the source lag (how far the newest row's event time is behind the run's
    finish) a watermark; each is left out when it has no meaning. The
    reference metrics are written for datasets whose contract has references.
    """
    if report.finished_at is None:
        return []
    labels = pipeline_labels(report.dataset, report.env, report_flow(report))
    seconds = (report.finished_at - report.started_at).total_seconds()
    values: dict[str, float] = {
        ROWS_READ: report.rows_read,
        ROWS_WRITTEN: report.rows_written,
        ROWS_QUARANTINED: report.rows_quarantined,
        ROWS_DUPLICATE: report.rows_duplicate,
        RUN_DURATION: seconds,
        RUN_FAILED: 1.0 if report.status == "failed" else 0.0,
    }
    if report.rows_read:
        values[QUARANTINE_RATE] = report.rows_quarantined / report.rows_read
    if seconds > 0:
        values[THROUGHPUT] = report.rows_read / seconds
    if report.watermark is not None:
        values[SOURCE_LAG] = (report.finished_at - utc(report.watermark)).total_seconds()
    if report.rows_orphaned or report.rows_held or _references(report.dataset):
        values[ROWS_ORPHANED], values[ROWS_HELD] = report.rows_orphaned, report.rows_held
        if report.rows_read:
            values[ORPHAN_RATE] = report.rows_orphaned / report.rows_read
    return [Sample(metric, labels, report.finished_at, value) for metric, value in values.items()]


def freshness_samples(conn: Connection, now: datetime) -> list[Sample]:
    """Per dataset and environment, the age at ``now`` of the newest watermark any run recorded.

    Where the dataset's contract declares a freshness SLA, the age divided by
    it is written too (``sluice_freshness_sla_ratio``; above 1 is a breach).
    """
    newest = sa.func.max(ingest_runs.c.watermark).label("watermark")
    query = (
        sa.select(ingest_runs.c.dataset, ingest_runs.c.env, ingest_runs.c.flow, ingest_runs.c.source, newest)
        .where(ingest_runs.c.watermark.is_not(None))
        .group_by(ingest_runs.c.dataset, ingest_runs.c.env, ingest_runs.c.flow, ingest_runs.c.source)
    )
    latest: dict[tuple[str, str, str], datetime] = {}
    for row in conn.execute(query):
        key = (row.dataset, row.env, row.flow or run_flow(row.source))
        latest[key] = max(latest.get(key, utc(row.watermark)), utc(row.watermark))
    samples = []
    for (dataset, env, flow), watermark in sorted(latest.items()):
        labels = pipeline_labels(dataset, env, flow)
        age = (now - watermark).total_seconds()
        samples.append(Sample(FRESHNESS, labels, now, age))
        sla = _freshness_sla(dataset)
        if sla:
            samples.append(Sample(FRESHNESS_SLA_RATIO, labels, now, age / sla))
    return samples


def _freshness_sla(dataset: str) -> float | None:
    """The dataset contract's freshness SLA in seconds, or None when there is no readable contract."""
    from sluice.errors import ContractError
    from sluice.settings import get_settings
    from sluice.validate.contracts import find_contract

    try:
        return find_contract(dataset, get_settings().contracts_root()).freshness_sla.total_seconds()
    except ContractError:
        return None


def _references(dataset: str) -> bool:
    """Whether the dataset's contract declares references (False when there is no readable contract)."""
    from sluice.errors import ContractError
    from sluice.settings import get_settings
    from sluice.validate.contracts import find_contract

    try:
        return bool(find_contract(dataset, get_settings().contracts_root()).references)
    except ContractError:
        return False


def new_samples(store: MetricsStore, samples: Iterable[Sample]) -> list[Sample]:
    """The samples whose ``(metric, labels, ts)`` the store does not hold yet (nor ``samples`` before them)."""
    pending = list(samples)
    if not pending:
        return []
    start, end = min(s.ts for s in pending), max(s.ts for s in pending)
    seen: set[tuple[str, str, int]] = set()
    for metric in sorted({s.metric for s in pending}):
        for series in store.query_range(Selector(metric), start, end):
            seen.update((metric, series.key, ts) for ts in series.timestamps.tolist())
    fresh = []
    for sample in pending:
        identity = (sample.metric, labels_key(sample.labels), to_ns(sample.ts))
        if identity not in seen:
            seen.add(identity)
            fresh.append(sample)
    return fresh


def collect_pipeline_metrics(
    conn: Connection, store: MetricsStore, *, since: datetime | None = None, now: datetime | None = None
) -> int:
    """Write the pipeline metrics of the runs finished since ``since`` to ``store``; returns the samples written.

    Collecting the same runs again writes nothing new (freshness is stamped at
    ``now``, so a later collection adds freshness samples, as it should).

    Args:
        conn: a connection to the metadata store.
        store: where the metrics go.
        since: only runs finished at or after this; all finished runs when omitted.
        now: the collection time (the freshness timestamp); the current time when omitted.

    Raises:
        ReadOnlyStoreError: the store is Prometheus, which scrapes rather than receives.
    """
    now = utc(now) if now else datetime.now(timezone.utc)
    store.write([])  # a store that takes no writes says so now, before anything is read
    samples = [s for report in finished_runs(conn, since=since) for s in run_samples(report)]
    samples += freshness_samples(conn, now)
    return store.write(new_samples(store, samples))


def collect_prefect_metrics(
    store: MetricsStore, *, since: datetime, now: datetime | None = None, environment: str = "dev"
) -> int:
    """Write flow and task run metrics from the Prefect API (:mod:`ops.metrics.prefect_runs`); returns samples written.

    Raises:
        BackendUnavailableError: the Prefect API cannot be read.
    """
    from ops.metrics.errors import BackendUnavailableError
    from ops.metrics.prefect_runs import read_prefect_samples

    now = utc(now) if now else datetime.now(timezone.utc)
    store.write([])
    try:
        samples = read_prefect_samples(utc(since), now, environment)
    except Exception as exc:  # noqa: BLE001 - httpx, API or settings errors alike: the caller decides what to do
        raise BackendUnavailableError(
            f"cannot read flow runs from the Prefect API: {type(exc).__name__}: {exc}",
            hint="check PREFECT_API_URL and that the server answers",
        ) from None
    return store.write(new_samples(store, samples))
