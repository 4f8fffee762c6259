"""Flow ``ingest-stream``: a Kafka topic, Redis stream or RabbitMQ queue into the dataset's lake table, exactly once.

Micro-batches bounded by records, bytes and time are validated against the
dataset's contract and committed with their positions (a queue's: its
messages' idents) in the same Delta commit; only then does the broker learn
(Kafka offsets, Redis XACK, RabbitMQ ack). Two
ways to run it:

- **until idle** (``follow_seconds=0``, the default): consume until nothing
  arrives for ``idle_seconds``; for a frequent schedule;
- **follow** (``follow_seconds`` > 0, or ``None`` until cancelled).

Each run is recorded like a file ingestion (``ops runs``): one entry per
batch; ``rows_read`` = ``rows_written`` + ``rows_quarantined`` +
``rows_duplicate`` (messages the lake held already, by position or key) +
``rows_held`` (orphans of a ``hold`` reference waiting for their parent,
:mod:`sluice.sources.streams.referenced`). After its commits, a run releases
the held rows they may free: its dataset's own, and its children's.
Under a contract's ``completeness`` policy each batch is also compared, per
partition, with the source's count of what its positions span; under
``strict`` a batch with a gap is not committed and the run fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.held_release import release_after_stream
from flows.hooks import INCIDENT_HOOKS
from sluice.errors import ConfigError
from sluice.lake.commit_size import commits_bytes
from sluice.lake.table import table_uri
from sluice.lake.verify import ensure_verifiable
from sluice.paths import ensure_dataset_name
from sluice.runs.completeness import ensure_complete
from sluice.runs.records import FileOutcome, FileStatus, RunReport, ensure_conserved
from sluice.runs.usage import add_process_usage, read_measure
from sluice.settings import Settings, StreamSettings, get_settings
from sluice.settings.streams import BROKER_SETTINGS
from sluice.sources.streams.base import MAX_DELIVERIES, BatchLimits
from sluice.sources.streams.consume import ConsumeOutcome
from sluice.sources.streams.scale import ScalingPolicy
from sluice.sources.streams.sink import BatchOutcome
from sluice.sources.streams.totals import record_stream_totals
from sluice.sources.streams.typed import VALUE_FORMATS
from sluice.validate.contracts import Contract, find_contract
from sluice.validate.explode import ensure_explodable
from tasks.artifacts import RunArtifacts
from tasks.events import emit_committed
from tasks.profile import profile_run
from tasks.records import publish_artifacts, record_failure, record_run
from tasks.streams import Broker, StreamRequest, consume_into_lake

ADDRESS_ENV = BROKER_SETTINGS


def _address(broker: str, address: str | None, streams: StreamSettings) -> str:
    if broker not in ADDRESS_ENV:
        raise ConfigError(f"unknown broker {broker!r}", hint="ingest-stream reads from broker=kafka, redis or rabbitmq")
    found = address or streams.address(broker)
    if not found:
        raise ConfigError(
            f"ingest-stream needs the {broker} address",
            hint=f"pass address=... or set {ADDRESS_ENV[broker]} on the worker",
        )
    return found


def ensure_value_format(value_format: str) -> str:
    """``value_format`` if Sluice reads it.

    Raises:
        ConfigError: an unknown format.
    """
    if value_format not in VALUE_FORMATS:
        raise ConfigError(
            f"value_format {value_format!r} is not one of {', '.join(VALUE_FORMATS)}",
            hint="json for JSON objects; avro or protobuf in the Confluent wire format (SLUICE_SCHEMA_REGISTRY_URL)",
        )
    return value_format


def batch_outcome(source: str, order: int, batch: BatchOutcome) -> FileOutcome:
    """A batch as a run-record entry (its messages the lake held already count as valid and duplicate)."""
    return FileOutcome(
        uri=f"{source}@{batch.position or 'held'}#{order}",
        order=order,
        status=FileStatus.COMMITTED,
        rows_read=batch.read,
        rows_valid=batch.valid,
        rows_quarantined=batch.quarantined,
        rows_held=getattr(batch, "held", 0),
        rows_orphaned=getattr(batch, "orphans", 0),
        warnings=dict(batch.warnings),
    )


def fill_report(report: RunReport, source: str, batches: list[BatchOutcome]) -> None:
    """The run's counts from its batches: read = written + updated + deleted + unchanged + quarantined + duplicate
    + held."""
    report.files = [batch_outcome(source, i, b) for i, b in enumerate(batches)]
    report.rows_read = sum(b.read for b in batches)
    report.rows_written = sum(b.written for b in batches)
    report.rows_quarantined = sum(b.quarantined for b in batches)
    report.rows_held = sum(getattr(b, "held", 0) for b in batches)  # a sink checking references counts them
    report.rows_orphaned = sum(getattr(b, "orphans", 0) for b in batches)
    report.rows_updated = sum(b.updated for b in batches)
    report.rows_deleted = sum(b.deleted for b in batches)
    report.rows_unchanged = sum(b.unchanged for b in batches)
    report.rows_duplicate = report.duplicates_in_lake = sum(b.duplicate for b in batches)
    report.bytes_read = sum(b.bytes_read for b in batches)
    versions = [b.version for b in batches if b.version is not None]
    report.lake_version = max(versions) if versions else None
    for b in batches:
        for key, count in b.warnings.items():
            report.warnings[key] = report.warnings.get(key, 0) + count


def committed_versions(batches: list[BatchOutcome]) -> list[int]:
    """The table versions the run's batches committed, in order."""
    return sorted({b.version for b in batches if b.version is not None})


def child_reports(report: RunReport, batches: list[BatchOutcome]) -> list[RunReport]:
    """One run record per child dataset of an exploded array: the parent run's id with the child's number."""
    datasets = list(dict.fromkeys(name for b in batches for name in b.children))
    reports = []
    for i, dataset in enumerate(datasets, start=1):
        child = RunReport(f"{report.run_id}.{i}", dataset, report.source, report.env, report.started_at)
        mine = [b.children[dataset] for b in batches if dataset in b.children]
        child.files = [
            FileOutcome(
                uri=f"{report.source}#{k}",
                order=k,
                status=FileStatus.COMMITTED,
                rows_read=c.read,
                rows_valid=c.valid,
                rows_quarantined=c.quarantined,
            )
            for k, c in enumerate(mine)
        ]
        child.rows_read = sum(c.read for c in mine)
        child.rows_written = sum(c.written for c in mine)
        child.rows_quarantined = sum(c.quarantined for c in mine)
        child.rows_duplicate = child.duplicates_in_lake = sum(c.duplicate for c in mine)
        versions = [c.version for c in mine if c.version is not None]
        child.lake_version = max(versions) if versions else None
        child.finished_at, child.status = datetime.now(timezone.utc), "completed"
        reports.append(child)
    return reports


@flow(name="ingest-stream", log_prints=False, **INCIDENT_HOOKS)
def ingest_stream(
    dataset: str,
    broker: Broker,
    topic: str,
    address: str | None = None,
    group: str = "sluice",
    consumer: str = "",
    follow_seconds: float | None = 0.0,
    idle_seconds: float = 5.0,
    max_records: int = 10_000,
    max_bytes: int = 16 * 1024 * 1024,
    max_wait_seconds: float = 1.0,
    require_key: bool = False,
    value_format: str = "json",
    max_deliveries: int = MAX_DELIVERIES,
    min_consumers: int = 1,
    max_consumers: int = 1,
    lag_high_water: int = 1_000,
    lag_low_water: int = 100,
    scale_interval_seconds: float = 5.0,
    scale_sustain_samples: int = 3,
    scale_cooldown_samples: int = 3,
) -> RunReport:
    """Consume ``topic`` (a Kafka topic, a Redis stream key, or a RabbitMQ quorum queue) of ``broker`` into ``dataset``.

    ``address`` is the Kafka bootstrap servers, a ``redis://`` or an ``amqp://``
    URL (``SLUICE_KAFKA_BOOTSTRAP_SERVERS`` / ``SLUICE_REDIS_URL`` /
    ``SLUICE_RABBITMQ_URL`` when omitted). RabbitMQ: a message the queue
    delivered ``max_deliveries`` times before goes to its dead-letter exchange.
    ``value_format`` is ``json``, or ``avro`` / ``protobuf`` in the Confluent
    wire format with schemas from ``SLUICE_SCHEMA_REGISTRY_URL``.

    With ``max_consumers`` above 1 the run scales its consumers (one group) by the lag, read every
    ``scale_interval_seconds``: one more after ``scale_sustain_samples`` samples above ``lag_high_water``
    messages, one fewer after as many below ``lag_low_water``, never twice within ``scale_cooldown_samples``.
    """
    settings = get_settings()
    run_id = str(flow_run.get_id() or f"local-{int(time.time())}")
    source = f"{broker}:{topic}"
    report = RunReport(run_id, dataset, source, settings.env, datetime.now(timezone.utc), flow="ingest-stream")
    report.source_kind, report.read_measure = broker, read_measure(broker)
    try:
        contract = find_contract(ensure_dataset_name(dataset), settings.contracts_root())
        ensure_verifiable(contract, "ingest-stream")  # refused before a message is consumed
        ensure_explodable(contract, value_format, source)
        req = StreamRequest(
            broker,
            _address(broker, address, settings.streams),
            topic,
            group,
            consumer,
            follow_seconds,
            idle_seconds,
            BatchLimits(max_records, max_bytes, max_wait_seconds),
            require_key,
            value_format=ensure_value_format(value_format),
            max_deliveries=max_deliveries,
            scaling=ScalingPolicy(
                min_consumers,
                max_consumers,
                lag_high_water,
                lag_low_water,
                scale_sustain_samples,
                scale_cooldown_samples,
            ),
            scale_interval_s=scale_interval_seconds,
            kafka_options=settings.streams.kafka_client_options(),
        )
        consumed = _consume(settings, report, req, contract)
    except Exception as exc:
        record_failure(report, exc, settings.metadata_db_url())
        raise
    _record(settings, report, consumed)
    releases = release_after_stream(settings, report, contract)
    _log_summary(report, consumed.outcome, len(releases))
    if consumed.held_back:
        ensure_complete(report.dataset, report.control_totals)
    return report


@dataclass
class _Consumed:
    """What one consumption run produced: its batches, the child datasets' reports, where it wrote."""

    outcome: ConsumeOutcome
    children: list[RunReport]
    held_back: bool
    uri: str
    options: dict[str, str]


def _consume(settings: Settings, report: RunReport, req: StreamRequest, contract: Contract) -> _Consumed:
    """Consume into the lake and fill ``report``; conservation is checked here, before anything is recorded."""
    cpu = time.process_time()
    outcome = consume_into_lake(req, contract, report.run_id)
    fill_report(report, report.source, outcome.batches)
    add_process_usage(report, time.process_time() - cpu)
    uri, options = table_uri(settings.lake_root(), report.dataset), dict(settings.lake_storage_options)
    report.bytes_written = commits_bytes(uri, committed_versions(outcome.batches), report.run_id, options)
    report.stage_seconds["consume"] = outcome.seconds
    report.finished_at, report.status = datetime.now(timezone.utc), "completed"
    held_back = record_stream_totals(report, outcome.batches, outcome.held_back)  # failed, when one was
    ensure_conserved(report)
    children = child_reports(report, outcome.batches)
    for child in children:
        ensure_conserved(child)
    return _Consumed(outcome, children, held_back, uri, options)


def _record(settings: Settings, report: RunReport, consumed: _Consumed) -> None:
    """Lineage, profiles, run records and artifacts of a consumption run."""
    versions = committed_versions(consumed.outcome.batches)
    if report.lake_version is not None:
        emit_committed(report, versions)
        profile_run(report, consumed.uri, consumed.options, versions)
    record_run(report, settings.metadata_db_url())
    for child in consumed.children:
        record_run(child, settings.metadata_db_url())
    publish_artifacts(report, RunArtifacts.current(settings.env))


def _log_summary(report: RunReport, outcome: ConsumeOutcome, releases: int) -> None:
    get_run_logger().info(
        "read %d message(s) in %d batch(es): wrote %d, quarantined %d, held %d, duplicate %d; paused %d time(s); "
        "%d release(s) of held rows",
        report.rows_read,
        len(outcome.batches),
        report.rows_written,
        report.rows_quarantined,
        report.rows_held,
        report.rows_duplicate,
        outcome.pauses,
        releases,
    )
