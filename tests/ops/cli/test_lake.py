from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.ops.factories import invoke, sluice_home, write_lake_commit


def parquet_files(uri: str) -> set[Path]:
    return set(Path(uri).rglob("*.parquet"))


def test_history_json_has_version_time_run_counts_and_sources(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    write_lake_commit(settings, "orders", run_id="r1", counts={"rows_read": 3}, sources=2)
    write_lake_commit(settings, "orders", run_id="r2", counts={"rows_read": 5, "rows_quarantined": 1})

    result = invoke("lake", "history", "orders", "--output", "json")

    assert result.exit_code == 0
    commits = json.loads(result.stdout)
    assert [(c["version"], c["run_id"], c["source_files"]) for c in commits] == [(1, "r2", 1), (0, "r1", 2)]
    assert commits[0]["counts"] == {"rows_read": 5, "rows_quarantined": 1}
    assert commits[0]["operation"] == "WRITE"
    assert commits[0]["timestamp"].endswith("+00:00")


def test_history_limit(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    for run in ("r1", "r2", "r3"):
        write_lake_commit(settings, "orders", run_id=run, counts={"rows_read": 1})

    commits = json.loads(invoke("lake", "history", "orders", "--limit", "2", "-o", "json").stdout)

    assert [c["run_id"] for c in commits] == ["r3", "r2"]


def test_history_table_shows_run_and_counts(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    settings = sluice_home(monkeypatch, tmp_path)
    write_lake_commit(settings, "orders", run_id="r1", counts={"rows_read": 1234})

    result = invoke("lake", "history", "orders")

    assert result.exit_code == 0
    assert "r1" in result.stdout and "read 1,234" in result.stdout


def test_unknown_dataset_fails_with_suggestion_and_no_traceback(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("lake", "history", "ordrs")

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "error: unknown dataset 'ordrs'" in result.stderr
    assert "hint: did you mean 'orders'?" in result.stderr
    assert "Traceback" not in result.output


def test_known_dataset_without_table_says_to_ingest_first(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("lake", "vacuum", "customers", "--dry-run")

    assert result.exit_code == 1
    assert "run an ingestion of customers first" in result.stderr


def overwritten_table(monkeypatch, tmp_path) -> str:
    """A table whose first commit's files are no longer referenced."""
    settings = sluice_home(monkeypatch, tmp_path)
    write_lake_commit(settings, "orders", run_id="r1", counts={})
    return write_lake_commit(settings, "orders", run_id="r2", counts={}, mode="overwrite")


def test_vacuum_dry_run_lists_files_and_removes_none(monkeypatch, tmp_path):
    uri = overwritten_table(monkeypatch, tmp_path)
    before = parquet_files(uri)

    result = invoke("lake", "vacuum", "orders", "--retention-hours", "0", "--dry-run", "-o", "json")

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and len(report["files"]) == 1
    assert parquet_files(uri) == before


def test_vacuum_refused_at_the_prompt_removes_nothing(monkeypatch, tmp_path):
    uri = overwritten_table(monkeypatch, tmp_path)
    before = parquet_files(uri)

    result = invoke("lake", "vacuum", "orders", "--retention-hours", "0", input="n\n")

    assert result.exit_code == 1
    assert "cancelled; nothing was removed" in result.stderr
    assert parquet_files(uri) == before


def test_vacuum_confirmed_removes_unreferenced_files(monkeypatch, tmp_path):
    uri = overwritten_table(monkeypatch, tmp_path)

    result = invoke("lake", "vacuum", "orders", "--retention-hours", "0", input="y\n")

    assert result.exit_code == 0, result.output
    assert "removed 1 file(s)" in result.stdout
    assert len(parquet_files(uri)) == 1


def test_vacuum_yes_skips_the_prompt(monkeypatch, tmp_path):
    overwritten_table(monkeypatch, tmp_path)

    result = invoke("lake", "vacuum", "orders", "--retention-hours", "0", "--yes", "-o", "json")

    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["files"]) == 1


def orphaned_table(monkeypatch, tmp_path) -> tuple[str, Path, Path]:
    """A committed table plus two Parquet files written into its folder and never committed: one 200 h old."""
    import os
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    settings = sluice_home(monkeypatch, tmp_path)
    uri = write_lake_commit(settings, "orders", run_id="r1", counts={})
    rows = pa.table({"id": ["x"]})
    old, young = Path(uri) / "dt=2026-03-05" / "part-old.parquet", Path(uri) / "dt=2026-03-06" / "part-young.parquet"
    for path in (old, young):
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows, path)
    then = time.time() - 200 * 3600
    os.utime(old, (then, then))
    return uri, old, young


def test_vacuum_dry_run_lists_orphans_with_their_age_and_what_the_retention_keeps(monkeypatch, tmp_path):
    uri, _, young = orphaned_table(monkeypatch, tmp_path)
    before = parquet_files(uri)

    result = invoke("lake", "vacuum", "orders", "--dry-run", "-o", "json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    files = {f["path"]: f for f in report["files"]}
    assert set(files) == {"dt=2026-03-05/part-old.parquet", "dt=2026-03-06/part-young.parquet"}
    assert files["dt=2026-03-05/part-old.parquet"]["action"] == "remove"
    assert 199.9 < files["dt=2026-03-05/part-old.parquet"]["age_hours"] < 201
    assert files["dt=2026-03-06/part-young.parquet"]["action"] == "keep"
    assert 0 <= files["dt=2026-03-06/part-young.parquet"]["age_hours"] < 1
    assert files["dt=2026-03-06/part-young.parquet"]["bytes"] == young.stat().st_size
    assert report["retention_hours"] == 168 and report["dry_run"] is True
    assert parquet_files(uri) == before


def test_vacuum_dry_run_table_marks_each_orphan(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    orphaned_table(monkeypatch, tmp_path)

    result = invoke("lake", "vacuum", "orders", "--dry-run")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    old_line = next(line for line in lines if "part-old.parquet" in line)
    young_line = next(line for line in lines if "part-young.parquet" in line)
    assert "8.3 d" in old_line and "would remove" in old_line
    assert "min" in young_line and "keep: younger than the retention" in young_line
    assert "2 unreferenced file(s)" in result.stdout and "would remove 1 file(s)" in result.stdout
    assert "kept 1 younger than 168 h" in result.stdout


def test_vacuum_at_the_default_retention_removes_only_orphans_older_than_it(monkeypatch, tmp_path):
    uri, old, young = orphaned_table(monkeypatch, tmp_path)

    result = invoke("lake", "vacuum", "orders", "--yes", "-o", "json")

    assert result.exit_code == 0, result.output
    actions = {f["path"]: f["action"] for f in json.loads(result.stdout)["files"]}
    assert actions == {"dt=2026-03-05/part-old.parquet": "removed", "dt=2026-03-06/part-young.parquet": "kept"}
    assert not old.exists() and young.exists()
    assert len(parquet_files(uri)) == 2  # the committed file and the young orphan


def test_vacuum_dry_run_lists_orphans_of_a_lake_on_s3(monkeypatch, tmp_path):
    import boto3
    from moto.server import ThreadedMotoServer

    from sluice.sources.s3 import delta_options

    bucket = f"lake-{uuid.uuid4().hex[:12]}"  # moto's store is one per process: earlier tests' buckets stay
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **creds)
        s3.create_bucket(Bucket=bucket)
        options = delta_options({"key": "testing", "secret": "testing", "endpoint_url": endpoint})
        settings = sluice_home(
            monkeypatch, tmp_path, lake_uri=f"s3://{bucket}/tables", lake_storage_options=json.dumps(options)
        )
        monkeypatch.setattr("tests.ops.factories.write_deltalake", _with_options(options))
        write_lake_commit(settings, "orders", run_id="r1", counts={})
        s3.put_object(Bucket=bucket, Key="tables/orders/dt=2026-03-06/part-orphan.parquet", Body=b"PAR1")

        kept = json.loads(invoke("lake", "vacuum", "orders", "--dry-run", "-o", "json").stdout)
        due = json.loads(invoke("lake", "vacuum", "orders", "--dry-run", "--retention-hours", "0", "-o", "json").stdout)
    finally:
        server.stop()

    assert kept["table"] == f"s3://{bucket}/tables/orders"
    [orphan] = kept["files"]
    assert orphan["path"] == "dt=2026-03-06/part-orphan.parquet" and orphan["action"] == "keep"
    assert orphan["bytes"] == 4 and 0 <= orphan["age_hours"] < 1
    assert [f["action"] for f in due["files"]] == ["remove"]


def _with_options(options: dict[str, str]):
    from deltalake import write_deltalake

    def write(uri, data, **kwargs):
        return write_deltalake(uri, data, storage_options=options, **kwargs)

    return write
