"""The same flow against S3: moto's threaded server speaks the real S3 HTTP API on loopback."""

from __future__ import annotations

import json

import boto3
import pytest
import yaml
from deltalake import DeltaTable
from prefect_dask import DaskTaskRunner

from sluice.settings import get_settings
from sluice.sources.s3 import delta_options
from tests.factories import csv_text, mixed_orders
from tests.flows.helpers import lake_table, run_ingest
from tests.sluice.sources.dbfixtures import pg_table  # noqa: F401

pytestmark = pytest.mark.integration

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture()
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _bucket(endpoint: str, name: str):
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDS)
    s3.create_bucket(Bucket=name)
    return s3


def test_files_in_s3_are_ingested_through_a_prefect_aws_credentials_block(
    prefect_api, dask_address, sluice_home, s3_endpoint
):
    from prefect_aws import AwsCredentials
    from prefect_aws.client_parameters import AwsClientParameters

    s3 = _bucket(s3_endpoint, "landing")
    batch = mixed_orders(15)
    s3.put_object(Bucket="landing", Key="orders/2024-03-05/a.csv", Body=csv_text(batch).encode())
    s3.put_object(Bucket="landing", Key="orders/2024-03-05/b.csv", Body=csv_text(mixed_orders(5, start=500)).encode())
    AwsCredentials(
        **CREDS, region_name="us-east-1", aws_client_parameters=AwsClientParameters(endpoint_url=s3_endpoint)
    ).save("moto", overwrite=True)

    report = run_ingest(
        dask_address, "orders", "s3://landing/orders/2024-03-05", pattern="*.csv", aws_credentials_block="moto"
    )

    other = mixed_orders(5, start=500)
    assert report.rows_read == batch.total + other.total
    assert report.rows_written == batch.unique_valid + other.unique_valid
    assert report.files[0].uri == "s3://landing/orders/2024-03-05/a.csv"


def test_lake_and_quarantine_on_s3(prefect_api, dask_address, sluice_home, s3_endpoint, monkeypatch):
    s3 = _bucket(s3_endpoint, "lake")
    s3.put_object(Bucket="lake", Key="in/a.csv", Body=csv_text(mixed_orders(10)).encode())
    fs_opts = {"key": "testing", "secret": "testing", "endpoint_url": s3_endpoint}
    monkeypatch.setenv("SLUICE_LAKE_URI", "s3://lake/tables")
    monkeypatch.setenv("SLUICE_QUARANTINE_URI", "s3://lake/quarantine")
    monkeypatch.setenv("SLUICE_STORAGE_OPTIONS", json.dumps(fs_opts))
    monkeypatch.setenv("SLUICE_LAKE_STORAGE_OPTIONS", json.dumps(delta_options(fs_opts)))
    get_settings(fresh=True)

    first = run_ingest(dask_address, "orders", "s3://lake/in")
    second = run_ingest(dask_address, "orders", "s3://lake/in")

    batch = mixed_orders(10)
    table = DeltaTable("s3://lake/tables/orders", storage_options=delta_options(fs_opts)).to_pyarrow_table()
    assert table.num_rows == batch.unique_valid == first.rows_written
    assert second.files[0].status.value == "skipped"
    quarantine = DeltaTable("s3://lake/quarantine", storage_options=delta_options(fs_opts)).to_pyarrow_table()
    assert quarantine.num_rows == batch.bad


def test_staging_on_s3_leaves_nothing_on_local_disk_and_is_removed_after_the_commit(
    prefect_api, dask_address, sluice_home, s3_endpoint, monkeypatch
):
    s3 = _bucket(s3_endpoint, "staged-lake")
    batch, other = mixed_orders(20), mixed_orders(8, start=700)
    s3.put_object(Bucket="staged-lake", Key="in/a.csv", Body=csv_text(batch).encode())
    s3.put_object(Bucket="staged-lake", Key="in/b.csv", Body=csv_text(other).encode())
    fs_opts = {"key": "testing", "secret": "testing", "endpoint_url": s3_endpoint}
    monkeypatch.setenv("SLUICE_LAKE_URI", "s3://staged-lake/tables")
    monkeypatch.setenv("SLUICE_QUARANTINE_URI", "s3://staged-lake/quarantine")
    monkeypatch.setenv("SLUICE_STAGING_URI", "s3://staged-lake/staging")
    monkeypatch.setenv("SLUICE_STORAGE_OPTIONS", json.dumps(fs_opts))
    monkeypatch.setenv("SLUICE_LAKE_STORAGE_OPTIONS", json.dumps(delta_options(fs_opts)))
    get_settings(fresh=True)

    report = run_ingest(dask_address, "orders", "s3://staged-lake/in")

    table = DeltaTable("s3://staged-lake/tables/orders", storage_options=delta_options(fs_opts)).to_pyarrow_table()
    assert table.num_rows == batch.unique_valid + other.unique_valid == report.rows_written
    assert report.rows_quarantined == batch.bad + other.bad
    assert not (sluice_home.home / "staging").exists()
    left = s3.list_objects_v2(Bucket="staged-lake", Prefix="staging/").get("Contents", [])
    assert [o["Key"] for o in left if not o["Key"].endswith("/")] == []  # pyarrow keeps empty folder markers


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_source_that_is_down_when_the_run_starts_is_listed_again_until_it_is_back(
    prefect_api, dask_address, sluice_home
):
    import threading

    from moto.server import ThreadedMotoServer

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    batch = mixed_orders(12)

    def come_back_later() -> None:
        threading.Event().wait(9.0)  # longer than the S3 client's own retries (about 6 s)
        server.start()
        _bucket(endpoint, "late").put_object(Bucket="late", Key="in/a.csv", Body=csv_text(batch).encode())

    thread = threading.Thread(target=come_back_later, daemon=True)
    thread.start()
    try:
        report = run_ingest(
            dask_address,
            "orders",
            "s3://late/in",
            pattern="*.csv",
            storage_options={"key": "testing", "secret": "testing", "endpoint_url": endpoint},
        )
    finally:
        thread.join()
        server.stop()

    assert report.status == "completed"
    assert report.rows_read == batch.total and report.rows_written == batch.unique_valid


def test_an_unreachable_source_is_reported_as_unreachable_not_as_missing():
    from sluice.errors import SourceUnreachableError
    from sluice.sources.files import list_source_files

    endpoint = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(SourceUnreachableError, match="cannot reach source s3://gone"):
        list_source_files("s3://gone", "*.csv", {"key": "testing", "secret": "testing", "endpoint_url": endpoint})


def test_a_table_snapshot_stages_on_s3_and_leaves_nothing_on_local_disk(
    prefect_api, dask_address, sluice_home, s3_endpoint, pg_table, tmp_path, monkeypatch
):
    from flows.ingest_table import ingest_table
    from tests.sluice.sources.dbfixtures import PG_DDL, PG_URL, contract, pg_exec

    s3 = _bucket(s3_endpoint, "table-staging")
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "dbtest.yaml").write_text(yaml.safe_dump(contract().model_dump(mode="json", exclude_defaults=True)))
    pg_exec(PG_DDL.format(t=f'"{pg_table}"'))
    pg_exec(
        f"INSERT INTO \"{pg_table}\" SELECT g, 'C' || lpad(g::text, 6, '0'), now(), g / 4.0, NULL, now() "
        "FROM generate_series(1, 2000) g"
    )
    fs_opts = {"key": "testing", "secret": "testing", "endpoint_url": s3_endpoint}
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(folder))
    monkeypatch.setenv("SLUICE_STAGING_URI", "s3://table-staging/staging")
    monkeypatch.setenv("SLUICE_LAKE_STORAGE_OPTIONS", json.dumps(delta_options(fs_opts)))
    get_settings(fresh=True)

    report = ingest_table.with_options(task_runner=DaskTaskRunner(address=dask_address))(
        "dbtest", connection=PG_URL, table=pg_table
    )

    assert (report.rows_read, report.rows_written) == (2000, 2000)
    assert sorted(lake_table("dbtest").column("id").to_pylist()) == list(range(1, 2001))
    assert not (sluice_home.home / "staging").exists()
    left = s3.list_objects_v2(Bucket="table-staging", Prefix="staging/").get("Contents", [])
    assert [o["Key"] for o in left if not o["Key"].endswith("/")] == []
