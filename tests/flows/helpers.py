"""Run the ingestion flow on the session's Dask cluster and read back the lake."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from deltalake import DeltaTable
from prefect_dask import DaskTaskRunner

from sluice.lake.table import table_uri
from sluice.settings import get_settings


def run_ingest(address: str, dataset: str, source: str, **kwargs: Any):
    from flows.ingest_files import ingest_files

    runner = DaskTaskRunner(address=address)
    return ingest_files.with_options(task_runner=runner)(dataset, source, **kwargs)


def run_ingest_state(address: str, dataset: str, source: str, **kwargs: Any):
    from flows.ingest_files import ingest_files

    runner = DaskTaskRunner(address=address)
    return ingest_files.with_options(task_runner=runner)(dataset, source, return_state=True, **kwargs)


def lake_table(dataset: str) -> pa.Table:
    uri = table_uri(get_settings().lake_root(), dataset)
    return DeltaTable(uri).to_pyarrow_table()


def quarantine_table() -> pa.Table:
    return DeltaTable(get_settings().quarantine_root()).to_pyarrow_table()


def sorted_rows(table: pa.Table, key: str) -> list[dict[str, Any]]:
    return table.sort_by(key).to_pylist()
