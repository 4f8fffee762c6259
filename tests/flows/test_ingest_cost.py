"""What an ingest-files run measures of its use, on the real stack: sizes read, Delta adds written, CPU, memory."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from sluice.lake.table import table_uri
from sluice.runs.metastore import engine_for, get_run
from sluice.settings import get_settings
from tests.factories import mixed_orders, write_csv
from tests.flows.helpers import run_ingest

pytestmark = pytest.mark.integration


def _log_adds(uri: str, version: int) -> list[int]:
    entry = Path(uri) / "_delta_log" / f"{version:020d}.json"
    actions = [json.loads(line) for line in entry.read_text().splitlines()]
    return [a["add"]["size"] for a in actions if "add" in a]


def test_a_run_records_the_bytes_it_read_and_wrote_and_the_cpu_and_memory_it_used(
    prefect_api, dask_address, sluice_home, tmp_path
):
    paths = [write_csv(tmp_path / "src" / f"orders-{i}.csv", mixed_orders(30, start=1 + i * 1000)) for i in range(2)]

    report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    uri = table_uri(get_settings().lake_root(), "orders")
    adds = _log_adds(uri, report.lake_version)
    assert report.bytes_read == sum(p.stat().st_size for p in paths) > 0
    assert report.bytes_written == sum(adds) > 0
    files = pa.table(DeltaTable(uri).get_add_actions(flatten=True)).to_pydict()
    assert sum(files["size_bytes"]) == report.bytes_written  # the first commit: the whole table
    assert sum((Path(uri) / p).stat().st_size for p in files["path"]) == report.bytes_written
    assert report.cpu_seconds > 0 and report.wall_seconds > 0
    assert report.peak_memory_bytes > 0
    assert report.workers >= 1 and report.worker_memory_bytes > 0
    assert (report.source_kind, report.source_region, report.read_measure) == ("files", "", "file sizes")
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        stored = get_run(conn, report.run_id)
    assert stored is not None
    assert (stored.bytes_read, stored.bytes_written, stored.cpu_seconds) == (
        report.bytes_read,
        report.bytes_written,
        report.cpu_seconds,
    )
    assert (stored.workers, stored.worker_memory_bytes, stored.peak_memory_bytes) == (
        report.workers,
        report.worker_memory_bytes,
        report.peak_memory_bytes,
    )


def test_a_rerun_that_commits_nothing_writes_no_bytes(prefect_api, dask_address, sluice_home, tmp_path):
    write_csv(tmp_path / "src" / "orders-1.csv", mixed_orders(10))
    first = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    again = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    assert first.bytes_written > 0
    assert again.lake_version == first.lake_version
    assert again.bytes_written == 0 and again.bytes_read == 0
