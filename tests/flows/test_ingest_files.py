"""The ingest-files flow on the real stack: Prefect test server, Dask cluster, Delta lake."""

from __future__ import annotations

import pytest

from sluice.runs.metastore import engine_for, get_run
from tests.factories import OrderBatch, good_orders, mixed_orders, write_csv
from tests.flows.helpers import lake_table, quarantine_table, run_ingest, sorted_rows

pytestmark = pytest.mark.integration


def test_valid_rows_land_and_bad_rows_are_quarantined_with_exact_counts(
    prefect_api, dask_address, sluice_home, tmp_path
):
    batch = mixed_orders(20)
    write_csv(tmp_path / "src" / "orders-1.csv", batch)

    report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    assert report.rows_read == batch.total
    assert report.rows_quarantined == batch.bad
    assert report.rows_duplicate == batch.duplicates
    assert report.rows_written == batch.unique_valid
    lake = lake_table("orders")
    assert lake.num_rows == batch.unique_valid
    assert len(set(lake.column("order_id").to_pylist())) == lake.num_rows
    quarantine = quarantine_table()
    assert quarantine.num_rows == batch.bad
    reasons = set(quarantine.column("reason").to_pylist())
    assert {
        "unparseable_timestamp",
        "out_of_range",
        "not_allowed_value",
        "pattern_mismatch",
        "unparseable_int",
        "null_value",
        "malformed_row",
    } <= reasons
    assert set(quarantine.column("run_id").to_pylist()) == {report.run_id}
    assert report.warnings.get("discount:out_of_range") == 1
    assert report.warnings.get("channel:not_allowed_value") == 1


def test_the_default_local_cluster_of_thread_workers_ingests_with_exact_counts(prefect_api, sluice_home, tmp_path):
    from flows.ingest_files import ingest_files
    from flows.runners import dask_task_runner

    batches = [mixed_orders(20, start=1 + i * 1000) for i in range(3)]
    for i, batch in enumerate(batches):
        write_csv(tmp_path / "src" / f"orders-{i}.csv", batch)

    runner = dask_task_runner(sluice_home)  # no address: a LocalCluster of threads in this process
    report = ingest_files.with_options(task_runner=runner)("orders", str(tmp_path / "src"))

    assert runner.cluster_kwargs["processes"] is False
    assert report.rows_read == sum(b.total for b in batches)
    assert report.rows_quarantined == sum(b.bad for b in batches)
    assert report.rows_duplicate == sum(b.duplicates for b in batches)
    assert lake_table("orders").num_rows == report.rows_written == sum(b.unique_valid for b in batches)
    assert quarantine_table().num_rows == report.rows_quarantined


def test_quarantine_entries_point_at_the_source_line(prefect_api, dask_address, sluice_home, tmp_path):
    batch = OrderBatch(rows=good_orders(3))
    batch.rows[1].amount = "-1"
    batch.bad = 1
    path = write_csv(tmp_path / "src" / "o.csv", batch)

    run_ingest(dask_address, "orders", str(tmp_path / "src"))

    entry = quarantine_table().to_pylist()[0]
    assert entry["source_file"] == str(path)
    assert entry["source_row"] == 3  # header is line 1
    assert entry["column"] == "amount" and entry["reason"] == "out_of_range"
    assert dict(entry["record"])["amount"] == "-1"


def test_rerun_of_the_same_input_leaves_identical_lake(prefect_api, dask_address, sluice_home, tmp_path):
    write_csv(tmp_path / "src" / "a.csv", mixed_orders(30))
    write_csv(tmp_path / "src" / "b.csv.gz", mixed_orders(30, start=1000), gz=True)
    first = run_ingest(dask_address, "orders", str(tmp_path / "src"))
    before = sorted_rows(lake_table("orders"), "order_id")
    q_before = quarantine_table().num_rows

    second = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    assert [f.status.value for f in second.files] == ["skipped", "skipped"]
    assert second.rows_read == 0 and second.rows_written == 0
    assert sorted_rows(lake_table("orders"), "order_id") == before
    assert quarantine_table().num_rows == q_before
    assert first.rows_written == len(before)


def test_redelivered_rows_under_a_new_name_are_deduplicated_against_the_lake(
    prefect_api, dask_address, sluice_home, tmp_path
):
    write_csv(tmp_path / "day1" / "orders.csv", OrderBatch(rows=good_orders(50)))
    run_ingest(dask_address, "orders", str(tmp_path / "day1"))
    overlap = OrderBatch(rows=good_orders(30, start=41))  # 41..70: 10 already in the lake
    write_csv(tmp_path / "day2" / "orders-redelivered.csv", overlap)

    report = run_ingest(dask_address, "orders", str(tmp_path / "day2"))

    assert report.rows_read == 30
    assert report.duplicates_in_lake == 10
    assert report.rows_written == 20
    ids = lake_table("orders").column("order_id").to_pylist()
    assert sorted(ids) == list(range(1, 71))


def test_a_file_whose_rows_are_all_in_the_lake_is_recorded_and_not_read_again(
    prefect_api, dask_address, sluice_home, tmp_path
):
    write_csv(tmp_path / "src" / "orders.csv", OrderBatch(rows=good_orders(20)))
    run_ingest(dask_address, "orders", str(tmp_path / "src"))
    write_csv(tmp_path / "src" / "orders-copy.csv", OrderBatch(rows=good_orders(20)))  # nothing new in it

    copy = run_ingest(dask_address, "orders", str(tmp_path / "src"))
    again = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    assert copy.rows_read == 20 and copy.duplicates_in_lake == 20 and copy.rows_written == 0
    assert [f.status.value for f in again.files] == ["skipped", "skipped"] and again.rows_read == 0
    assert lake_table("orders").num_rows == 20


def test_run_metadata_records_counts_files_and_hashes(prefect_api, dask_address, sluice_home, tmp_path):
    batch = mixed_orders(10)
    write_csv(tmp_path / "src" / "x.csv", batch)

    report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    with engine_for(sluice_home.metadata_db_url()).connect() as conn:
        stored = get_run(conn, report.run_id)
    assert stored is not None
    assert (stored.rows_read, stored.rows_written, stored.rows_quarantined, stored.rows_duplicate) == (
        batch.total,
        batch.unique_valid,
        batch.bad,
        batch.duplicates,
    )
    assert stored.rows_read == stored.rows_written + stored.rows_quarantined + stored.rows_duplicate
    assert len(stored.files) == 1 and len(stored.files[0].sha256) == 64
    assert stored.watermark is not None


def test_lake_history_carries_run_id_counts_and_source_hashes(prefect_api, dask_address, sluice_home, tmp_path):
    from sluice.lake.log import history
    from sluice.lake.table import table_uri

    write_csv(tmp_path / "src" / "x.csv", mixed_orders(5))
    report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    latest = history(table_uri(sluice_home.lake_root(), "orders"))[0]
    assert latest.run_id == report.run_id
    assert latest.metadata["counts"]["rows_read"] == report.rows_read
    assert latest.metadata["sources"][0]["sha256"] == report.files[0].sha256


def _artifacts_of(run_id: str) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return {a.key: a for a in found}


def test_run_publishes_summary_artifacts_on_its_flow_run_keyed_by_environment(
    prefect_api, dask_address, sluice_home, tmp_path
):
    write_csv(tmp_path / "src" / "x.csv", mixed_orders(5))
    report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    found = _artifacts_of(report.run_id)
    env = sluice_home.env
    assert set(found) == {f"{env}-ingest-orders-summary", f"{env}-ingest-orders-files"}
    summary = found[f"{env}-ingest-orders-summary"]
    assert str(summary.flow_run_id) == report.run_id and summary.task_run_id is None  # the flow run's, not a task's
    assert f"| {report.rows_read:,} | {report.rows_written:,} |" in summary.data
    durations = [
        line.removesuffix(" s").split(": ")[1]
        for line in summary.data.split("## Stage durations")[1].strip().splitlines()
    ]
    assert durations and all(len(d.replace(",", "").replace(".", "").strip("0")) <= 3 for d in durations), durations
    assert found[f"{env}-ingest-orders-files"].type == "table"


def test_a_drill_run_keys_its_artifacts_by_the_drill(prefect_api, dask_address, sluice_home, tmp_path):
    from prefect import tags

    write_csv(tmp_path / "src" / "x.csv", mixed_orders(3))
    with tags("chaos-drill", "drill-0a1b2c3d4e5f"):
        report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    env = sluice_home.env
    assert set(_artifacts_of(report.run_id)) == {
        f"{env}-drill-0a1b2c3d4e5f-ingest-orders-summary",
        f"{env}-drill-0a1b2c3d4e5f-ingest-orders-files",
    }
