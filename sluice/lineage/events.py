"""OpenLineage run events of one Sluice run: START when it starts, COMPLETE or FAIL with its counts at the end.

A run reads one source and writes its dataset's lake table; rows its
contract rejects go to the quarantine table, a second output. The facets:

- the lake table: ``schema`` (the contract's columns), ``ownership`` (the
  contract's owner), ``columnLineage`` (each column from the source field it
  is read from) and ``outputStatistics`` (rows written);
- the quarantine: ``outputStatistics`` (rows quarantined);
- the source: ``dataQualityMetrics`` (rows and bytes read, files);
- the run: ``sluice_counts`` (every count of the run record) and, on FAIL,
  ``errorMessage``.

The run id is the flow run's id, so START and its end event share it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    OutputDatasetFacet,
    RunFacet,
    column_lineage_dataset,
    data_quality_metrics_input_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    ownership_dataset,
    schema_dataset,
)

from sluice import __version__
from sluice.lineage.naming import DatasetName
from sluice.runs.records import RunReport
from sluice.validate.contracts import Contract

PRODUCER = f"urn:sluice:{__version__}"
COUNTS_SCHEMA = "urn:sluice:facets:CountsRunFacet:1"
FAILED_STATUSES = frozenset({"failed", "crashed"})


@attr.define
class CountsRunFacet(RunFacet):
    """Every count of the run record (:class:`sluice.runs.records.RunReport`), under the run facet ``sluice_counts``."""

    rowsRead: int
    rowsWritten: int
    rowsUpdated: int
    rowsDeleted: int
    rowsUnchanged: int
    rowsQuarantined: int
    rowsDuplicate: int
    bytesRead: int
    lakeVersion: int | None = None
    status: str = ""

    @staticmethod
    def _get_schema() -> str:
        return COUNTS_SCHEMA

    @classmethod
    def of(cls, report: RunReport) -> CountsRunFacet:
        return cls(
            rowsRead=report.rows_read,
            rowsWritten=report.rows_written,
            rowsUpdated=report.rows_updated,
            rowsDeleted=report.rows_deleted,
            rowsUnchanged=report.rows_unchanged,
            rowsQuarantined=report.rows_quarantined,
            rowsDuplicate=report.rows_duplicate,
            bytesRead=report.bytes_read,
            lakeVersion=report.lake_version,
            status=report.status,
            producer=PRODUCER,
        )


@dataclass(frozen=True)
class RunDatasets:
    """Where a run reads and writes, as OpenLineage names; ``source`` is None before the run knows it."""

    table: DatasetName
    quarantine: DatasetName
    source: DatasetName | None = None


def run_uuid(run_id: str) -> str:
    """The run id as a UUID: a flow run's id is one; any other id maps to a stable UUID of its text."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sluice:run:{run_id}"))


def job_name(flow_name: str, dataset: str) -> str:
    """One job per flow and dataset, ``ingest-files.orders``: a flow serves many datasets."""
    return f"{flow_name}.{dataset}"


def _schema(contract: Contract) -> schema_dataset.SchemaDatasetFacet:
    fields = [
        schema_dataset.SchemaDatasetFacetFields(name=c.name, type=c.type.value, description=c.description or None)
        for c in contract.columns
    ]
    return schema_dataset.SchemaDatasetFacet(fields=fields, producer=PRODUCER)


def _column_lineage(contract: Contract, source: DatasetName) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    identity = [column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")]
    fields = {
        c.name: column_lineage_dataset.Fields(
            inputFields=[
                column_lineage_dataset.InputField(
                    namespace=source.namespace,
                    name=source.name,
                    field=".".join(c.source_paths(contract.nested.separator)[0]),
                    transformations=identity,
                )
            ],
        )
        for c in contract.columns
    }
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, producer=PRODUCER)


def _table(datasets: RunDatasets, contract: Contract | None, rows: int | None) -> OutputDataset:
    facets: dict[str, DatasetFacet] = {}
    if contract is not None:
        facets["schema"] = _schema(contract)
        facets["ownership"] = ownership_dataset.OwnershipDatasetFacet(
            owners=[ownership_dataset.Owner(name=contract.owner)], producer=PRODUCER
        )
        if datasets.source is not None:
            facets["columnLineage"] = _column_lineage(contract, datasets.source)
    stats: dict[str, OutputDatasetFacet] = {}
    if rows is not None:
        stats["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, producer=PRODUCER
        )
    table = datasets.table
    return OutputDataset(namespace=table.namespace, name=table.name, facets=facets, outputFacets=stats)


def _outputs(datasets: RunDatasets, contract: Contract | None, report: RunReport | None) -> list[OutputDataset]:
    if report is None:
        return [_table(datasets, contract, None)]
    quarantined = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=report.rows_quarantined, producer=PRODUCER
    )
    q = datasets.quarantine
    return [
        _table(datasets, contract, report.rows_written),
        OutputDataset(namespace=q.namespace, name=q.name, outputFacets={"outputStatistics": quarantined}),
    ]


def _inputs(source: DatasetName | None, report: RunReport | None) -> list[InputDataset]:
    if source is None:
        return []
    if report is None:
        return [InputDataset(namespace=source.namespace, name=source.name)]
    metrics = data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
        rowCount=report.rows_read,
        bytes=report.bytes_read,
        fileCount=len(report.files_committed),
        columnMetrics={},
        producer=PRODUCER,
    )
    return [InputDataset(namespace=source.namespace, name=source.name, inputFacets={"dataQualityMetrics": metrics})]


def _job(namespace: str, flow_name: str, dataset: str) -> Job:
    kind = job_type_job.JobTypeJobFacet(processingType="BATCH", integration="SLUICE", jobType="FLOW", producer=PRODUCER)
    return Job(namespace=namespace, name=job_name(flow_name, dataset), facets={"jobType": kind})


def start_event(
    *, namespace: str, flow_name: str, run_id: str, dataset: str, datasets: RunDatasets, contract: Contract | None
) -> RunEvent:
    """The START event of a run of ``flow_name`` into ``dataset``."""
    return RunEvent(
        eventType=RunState.START,
        eventTime=datetime.now(timezone.utc).isoformat(),
        run=Run(runId=run_uuid(run_id)),
        job=_job(namespace, flow_name, dataset),
        inputs=_inputs(datasets.source, None),
        outputs=_outputs(datasets, contract, None),
        producer=PRODUCER,
    )


def end_event(
    *, namespace: str, flow_name: str, report: RunReport, datasets: RunDatasets, contract: Contract | None
) -> RunEvent:
    """COMPLETE, or FAIL for a failed run, with the run's counts and, on FAIL, its error."""
    failed = report.status in FAILED_STATUSES
    facets: dict[str, RunFacet] = {"sluice_counts": CountsRunFacet.of(report)}
    if failed and report.error:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=report.error, programmingLanguage="python", producer=PRODUCER
        )
    finished = report.finished_at or datetime.now(timezone.utc)
    return RunEvent(
        eventType=RunState.FAIL if failed else RunState.COMPLETE,
        eventTime=finished.isoformat(),
        run=Run(runId=run_uuid(report.run_id), facets=facets),
        job=_job(namespace, flow_name, report.dataset),
        inputs=_inputs(datasets.source, report),
        outputs=_outputs(datasets, contract, report),
        producer=PRODUCER,
    )
