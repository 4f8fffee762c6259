"""Staging on an object store: the same layout and protocol as on disk, against moto's S3 server."""

from __future__ import annotations

import threading
import time
import unicodedata
from collections.abc import Iterator
from datetime import date

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import ConfigError
from sluice.lake import staging, staging_runs
from sluice.lake.location import Location
from sluice.validate.chunk import PARTITION

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def store() -> Iterator[dict[str, str]]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="t"
    ).create_bucket(Bucket="stage")
    try:
        yield {**CREDS, "AWS_ENDPOINT_URL": endpoint}
    finally:
        server.stop()


def _rows(days: list[date], start: int = 0) -> pa.Table:
    return pa.table(
        {"order_id": pa.array(range(start, start + len(days)), pa.int64()), PARTITION: pa.array(days, pa.date32())}
    )


def test_a_staging_uri_on_s3_is_a_location_and_a_path_stays_a_path(store, tmp_path):
    assert isinstance(staging.location("s3://stage/root", store), Location)
    assert staging.location(str(tmp_path)) == tmp_path
    assert staging.options_of(staging.location("s3://stage/root", store)) == store


def test_staged_batches_on_s3_read_back_as_written_in_source_order(store):
    run_dir, _ = staging_runs.open_run(staging.location("s3://stage/runs-a", store), "run-1", stale_hours=1)
    rows = _rows([date(2024, 1, 1), date(2024, 1, 9), date(2024, 1, 2)])
    second = staging.batch_dir(run_dir, 1, "b")
    first = staging.batch_dir(run_dir, 0, "a")
    for batch in (second, first):
        staging.reset(batch)
        staging.write_valid(batch, rows, 0)
        staging.write_quarantine(batch, rows.slice(0, 1), 0)
        staging.mark_complete(batch)
    unfinished = staging.batch_dir(run_dir, 2, "c")
    staging.write_valid(unfinished, rows, 0)

    done = staging.completed_batches(run_dir)
    buckets = staging.bucket_files(done)

    assert [b.batch_id for b in done] == ["a", "b"]
    assert sum(staging.read(p).num_rows for paths in buckets.values() for p in paths) == 2 * rows.num_rows
    assert staging.read(buckets[min(buckets)][0], columns=["order_id"]).column_names == ["order_id"]
    assert [staging.read(p).num_rows for p in staging.quarantine_files(done)] == [1, 1]
    staging.remove_run(run_dir)
    assert staging.completed_batches(run_dir) == []


def test_workers_staging_batches_of_one_run_at_once_lose_none(store):
    run_dir, _ = staging_runs.open_run(staging.location("s3://stage/runs-b", store), "run-2", stale_hours=1)
    errors: list[BaseException] = []

    def stage(order: int) -> None:
        try:
            batch = staging.batch_dir(run_dir, order, f"batch{order}")
            staging.reset(batch)
            for chunk in range(3):
                staging.write_valid(batch, _rows([date(2024, 1, 1)] * 100, start=order * 1000 + chunk * 100), chunk)
            staging.mark_complete(batch)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=stage, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    done = staging.completed_batches(run_dir)
    assert errors == []
    assert [b.order for b in done] == list(range(6))
    keys = [k for paths in staging.bucket_files(done).values() for p in paths for k in staging.read(p)["order_id"]]
    assert sorted(k.as_py() for k in keys) == sorted(o * 1000 + i for o in range(6) for i in range(300))


def test_a_run_on_s3_owned_by_another_host_goes_only_after_the_stale_hours(store):
    root = staging.location("s3://stage/runs-c", store)
    run_dir = root / "far-run"
    staging_runs.claim_run(run_dir, staging_runs.RunOwner("another-host", 1, 0.0))
    staging.write_valid(staging.batch_dir(run_dir, 0, "x"), _rows([date(2024, 1, 1)]), 0)

    kept = staging_runs.remove_stale_runs(root, stale_hours=1.0, now=time.time())
    removed = staging_runs.remove_stale_runs(root, stale_hours=1.0, now=time.time() + 2 * 3600)

    assert kept.kept == 1 and kept.removed == []
    assert [r.run_id for r in removed.removed] == ["far-run"] and removed.bytes_freed > 0
    assert staging_runs.read_owner(run_dir) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run_id=st.text(max_size=12))
def test_a_run_id_that_is_not_a_plain_name_is_refused_on_s3_too(store, run_id):
    root = staging.location("s3://stage/runs-d", store)
    try:
        run_dir, _ = staging_runs.open_run(root, run_id, stale_hours=1)
    except ConfigError as exc:
        assert "cannot name a staging folder" in str(exc)
        return
    assert run_id not in ("", ".", "..") and not any(c in run_id for c in "/\\\x00")
    assert not any(unicodedata.category(c) == "Cc" for c in run_id)
    assert isinstance(run_dir, Location) and run_dir.name == run_id
    staging.remove_run(run_dir)
