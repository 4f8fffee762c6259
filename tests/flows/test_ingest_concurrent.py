"""Four ingest-files runs at once, each in its own process, over overlapping files: every key and batch once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import numpy as np
import pytest
from deltalake import DeltaTable

from sluice.lake.table import table_uri
from sluice.settings import get_settings
from sluice.sources.s3 import delta_options
from tests.factories import OrderBatch, good_orders, mixed_orders, write_csv
from tests.flows.helpers import run_ingest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# Each run's glob over the same four files: every file is in two or more runs.
PATTERNS = ["f[012].csv", "f[123].csv", "f[03].csv", "f*.csv"]
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _sources(src: Path) -> int:
    """Files 0-2 hold disjoint orders; file 3 redelivers some of 0's and 1's. Returns the distinct valid keys."""
    for i in range(3):
        write_csv(src / f"f{i}.csv", mixed_orders(300, start=1 + 10_000 * i))
    write_csv(src / "f3.csv", OrderBatch(rows=good_orders(100, start=101) + good_orders(100, start=10_101)))
    return 3 * mixed_orders(300).unique_valid


def _run_four(prefect_api: str, dask_address: str, src: Path, env_extra: dict[str, str]) -> list[dict]:
    env = {
        **os.environ,
        **env_extra,
        "PREFECT_API_URL": prefect_api,
        "SLUICE_HOME": os.environ["SLUICE_HOME"],
        "PYTHONPATH": str(ROOT),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.flows.concurrent_worker", dask_address, "orders", str(src), pattern],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pattern in PATTERNS
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def _log_lines(uri: str, endpoint: str | None) -> list[dict]:
    """Every action of every commit in the table's ``_delta_log``, read straight from storage.

    (Not through ``DeltaTable.history``: it holds the GIL while it waits on
    the network, and the moto server answering it runs in this process.)
    """
    if endpoint is None:
        texts = [p.read_text() for p in sorted(Path(uri, "_delta_log").glob("*.json"))]
    else:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDS)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/_delta_log/")["Contents"]]
        texts = [
            s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode() for k in sorted(keys) if k.endswith(".json")
        ]
    return [json.loads(line) for text in texts for line in text.splitlines() if line.strip()]


def _batches_recorded(uri: str, endpoint: str | None) -> list[str]:
    """The batch ids recorded as application transactions by any commit, with repeats."""
    return [a["txn"]["appId"] for a in _log_lines(uri, endpoint) if "txn" in a]


def _check(
    reports: list[dict], uri: str, lake: DeltaTable, quarantine: DeltaTable, distinct: int, endpoint: str | None = None
) -> None:
    ids = lake.to_pyarrow_table(columns=["order_id"]).column("order_id").to_numpy()
    assert len(ids) == len(np.unique(ids)) == distinct
    recorded = _batches_recorded(uri, endpoint)
    assert len(recorded) == len(set(recorded)) == 4  # each file's batch committed exactly once
    committed = [f for r in reports for f in r["files"] if f["status"] == "committed"]
    assert sorted(f["batch_id"] for f in committed) == sorted(recorded)
    assert sum(r["rows_written"] for r in reports) == lake.to_pyarrow_table(columns=["order_id"]).num_rows
    assert sum(r["rows_quarantined"] for r in reports) == quarantine.to_pyarrow_table(columns=["batch_id"]).num_rows
    for r in reports:
        assert r["status"] == "completed"
        assert r["rows_read"] == r["rows_written"] + r["rows_quarantined"] + r["rows_duplicate"]
    assert sum(r["files_skipped"] for r in reports) == sum(len(r["files"]) for r in reports) - 4


def test_four_simultaneous_runs_over_overlapping_files_leave_each_key_and_batch_once(
    prefect_api, dask_address, sluice_home, tmp_path
):
    distinct = _sources(tmp_path / "src")

    reports = _run_four(prefect_api, dask_address, tmp_path / "src", {})

    uri = table_uri(sluice_home.lake_root(), "orders")
    lake = DeltaTable(uri)
    _check(reports, uri, lake, DeltaTable(sluice_home.quarantine_root()), distinct)
    version = lake.version()
    rerun = run_ingest(dask_address, "orders", str(tmp_path / "src"), pattern="f*.csv")
    assert rerun.rows_read == 0 and {f.status.value for f in rerun.files} == {"skipped"}
    assert DeltaTable(table_uri(sluice_home.lake_root(), "orders")).version() == version  # a no-op writes nothing


def _reset_moto(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30)


@pytest.fixture()
def s3_lake(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    _reset_moto(endpoint)  # moto keeps buckets per process, not per server: start from none
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDS).create_bucket(Bucket="lake")
    fs_opts = {"key": "testing", "secret": "testing", "endpoint_url": endpoint}
    env = {
        "SLUICE_LAKE_URI": "s3://lake/tables",
        "SLUICE_QUARANTINE_URI": "s3://lake/quarantine",
        "SLUICE_LAKE_STORAGE_OPTIONS": json.dumps(delta_options(fs_opts)),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings(fresh=True)
    try:
        yield env, delta_options(fs_opts), endpoint
    finally:
        _reset_moto(endpoint)
        server.stop()


def test_four_simultaneous_runs_into_a_lake_on_s3_leave_each_key_and_batch_once(
    prefect_api, dask_address, sluice_home, tmp_path, s3_lake
):
    env, opts, endpoint = s3_lake
    distinct = _sources(tmp_path / "src")

    reports = _run_four(prefect_api, dask_address, tmp_path / "src", env)

    lake = DeltaTable("s3://lake/tables/orders", storage_options=opts)
    _check(
        reports,
        "s3://lake/tables/orders",
        lake,
        DeltaTable("s3://lake/quarantine", storage_options=opts),
        distinct,
        endpoint,
    )
