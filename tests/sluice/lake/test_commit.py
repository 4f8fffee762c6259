"""The commit protocol: each key and batch once under concurrent writers; a moved table re-plans; no empty versions."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import LakeConflictError, LeaseLostError
from sluice.lake.commit import ATTEMPTS
from sluice.lake.lease import hold_lease
from sluice.lake.log import history
from sluice.lake.write import commit_quarantine, quarantine_app_id
from sluice.runs.metastore import engine_for
from sluice.runs.records import FileStatus
from tests.factories import OrderBatch, good_orders, mixed_orders, write_csv
from tests.sluice.lake.commit_worker import Spec, commit, run, stage

ROOT = Path(__file__).resolve().parents[2]


def _spec(tmp_path: Path, run_id: str, files: list[Path], *, lease: bool = True) -> Spec:
    return Spec(
        run_id=run_id,
        files=[str(f) for f in files],
        staging=str(tmp_path / "staging"),
        lake_uri=str(tmp_path / "lake" / "orders"),
        quarantine_uri=str(tmp_path / "quarantine"),
        metadata_url=f"sqlite:///{tmp_path / 'meta.db'}" if lease else None,
    )


def _sources(tmp_path: Path) -> list[Path]:
    """Four files: 0-2 disjoint, 3 redelivers half of 0's orders and half of 1's under a new name."""
    src = tmp_path / "src"
    files = [write_csv(src / f"f{i}.csv", mixed_orders(40, start=1 + 1000 * i)) for i in range(3)]
    redelivered = OrderBatch(rows=good_orders(20, start=21) + good_orders(20, start=1001))
    files.append(write_csv(src / "f3.csv", redelivered))
    return files


def _lake_ids(uri: str) -> np.ndarray:
    return DeltaTable(uri).to_pyarrow_table(columns=["order_id"]).column("order_id").to_numpy()


def _recorded_batches(uri: str) -> list[str]:
    """Every application transaction any commit of the table recorded, with repeats."""
    log = Path(uri) / "_delta_log"
    found = []
    for path in sorted(log.glob("*.json")):
        for line in path.read_text().splitlines():
            action = json.loads(line)
            if "txn" in action:
                found.append(action["txn"]["appId"])
    return found


def _data_files(uri: str) -> set[str]:
    root = Path(uri)
    return {str(p.relative_to(root)) for p in root.rglob("*.parquet")}


def _referenced(uri: str) -> set[str]:
    return {str(Path(f).relative_to(Path(uri).resolve())) for f in DeltaTable(uri).file_uris()}


def _check_exactly_once(spec: Spec, reports: list[dict[str, object]], *, all_finished: bool = True) -> None:
    """Each key once, each batch once, and the summed reports add up to what the tables hold.

    A writer that gave up may have quarantined batches before its lake commit
    failed: with one, only the lake is expected to add up to the reports.
    """
    ids = _lake_ids(spec.lake_uri)
    assert len(ids) == len(np.unique(ids))
    recorded = _recorded_batches(spec.lake_uri)
    assert len(recorded) == len(set(recorded))
    committed = [f for r in reports for f in r["files"] if f["status"] == "committed"]
    assert sorted(f["batch_id"] for f in committed) == sorted(recorded)
    assert sum(r["rows_written"] for r in reports) == len(ids)
    quarantine = DeltaTable(spec.quarantine_uri).to_pyarrow_table(columns=["batch_id"])
    assert sum(f["rows_quarantined"] for f in committed) == quarantine.num_rows or not all_finished
    q_recorded = _recorded_batches(spec.quarantine_uri)
    assert len(q_recorded) == len(set(q_recorded))
    for r in reports:
        read = sum(f["rows_read"] for f in r["files"])
        assert read == r["rows_written"] + r["rows_duplicate"] + sum(f["rows_quarantined"] for f in r["files"])
    assert _data_files(spec.lake_uri) == _referenced(spec.lake_uri)  # losers left no files behind


@pytest.mark.parametrize("lease", [True, False], ids=["with-lease", "delta-alone"])
def test_four_writer_processes_over_overlapping_files_leave_each_key_and_batch_once(tmp_path, lease):
    files = _sources(tmp_path)
    runs = [[0, 1, 2], [1, 2, 3], [0, 3], [0, 1, 2, 3]]
    specs = [_spec(tmp_path, f"run-{i}", [files[j] for j in picked], lease=lease) for i, picked in enumerate(runs)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = [sys.executable, "-m", "tests.sluice.lake.commit_worker"]
    procs = [
        subprocess.Popen(
            [*worker, json.dumps(dataclasses.asdict(s))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in specs
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))

    failed = [r for r in reports if r["error"]]
    assert all("LakeConflictError" in r["error"] for r in failed)
    assert len(failed) < len(reports)
    _check_exactly_once(specs[0], [r for r in reports if not r["error"]], all_finished=not failed)
    assert set(_recorded_batches(specs[0].lake_uri)) == {
        f["batch_id"] for r in reports if not r["error"] for f in r["files"] if f["status"] == "committed"
    }
    if lease:  # writers take turns: none fails, and every file is in
        assert failed == []
        assert len(_lake_ids(specs[0].lake_uri)) == 3 * mixed_orders(40).unique_valid


def test_a_writer_whose_table_moved_after_its_plan_replans_and_writes_only_what_is_missing(tmp_path):
    first = write_csv(tmp_path / "src" / "a.csv", OrderBatch(rows=good_orders(50)))
    other = write_csv(tmp_path / "src" / "b.csv", OrderBatch(rows=good_orders(50, start=26)))  # 26..50 overlap
    seed = write_csv(tmp_path / "src" / "seed.csv", OrderBatch(rows=good_orders(5, start=900)))
    mine, theirs = _spec(tmp_path, "mine", [first]), _spec(tmp_path, "theirs", [other])
    assert run(dataclasses.replace(_spec(tmp_path, "seed", [seed]), metadata_url=None))["error"] == ""
    req, outcomes = stage(mine)
    plans = []

    def dedup_after_a_foreign_commit(plan):
        from sluice.ingest import commit_target
        from sluice.lake.commit import dedup_buckets

        plans.append(plan)
        if len(plans) == 1:  # between this writer's plan and its commit, another run commits
            assert run(dataclasses.replace(theirs, metadata_url=None))["error"] == ""
        target = commit_target(req, mine.quarantine_uri)
        return dedup_buckets(target, plan, list(plan.buckets))

    outcome = commit(dataclasses.replace(mine, metadata_url=None), req, outcomes, dedup=dedup_after_a_foreign_commit)

    assert outcome.attempts == 2 and [p.version for p in plans] == [1, 2]
    assert (outcome.lake.rows_written, outcome.lake.duplicates_in_lake) == (25, 25)
    assert sorted(_lake_ids(mine.lake_uri)) == [*range(1, 76), *range(900, 905)]
    assert [h.operation for h in history(mine.lake_uri)] == ["WRITE", "WRITE", "WRITE", "CREATE TABLE"]
    assert history(mine.lake_uri)[0].metadata["read_version"] == 2
    assert _data_files(mine.lake_uri) == _referenced(mine.lake_uri)  # the first attempt's files are gone


def test_a_writer_that_loses_every_attempt_fails_clearly_and_nothing_of_it_is_visible(tmp_path):
    mine = _spec(
        tmp_path, "mine", [write_csv(tmp_path / "src" / "a.csv", OrderBatch(rows=good_orders(30)))], lease=False
    )
    req, outcomes = stage(mine)
    foreign: list[int] = []

    def dedup_while_someone_else_keeps_committing(plan):
        from deltalake import CommitProperties, Transaction

        from sluice.ingest import commit_target
        from sluice.lake.commit import dedup_buckets
        from sluice.lake.table import lake_schema
        from sluice.lake.write import open_or_create

        schema = lake_schema(req.contract)
        table = open_or_create(mine.lake_uri, schema, ["dt"])
        foreign.append(len(foreign))
        table.create_write_transaction(
            [],
            mode="append",
            schema=schema,
            partition_by=["dt"],
            commit_properties=(CommitProperties(app_transactions=[Transaction(f"foreign-{foreign[-1]}", 1)])),
        )
        return dedup_buckets(commit_target(req, mine.quarantine_uri), plan, list(plan.buckets))

    with pytest.raises(LakeConflictError, match=f"all {ATTEMPTS} attempts") as caught:
        commit(mine, req, outcomes, dedup=dedup_while_someone_else_keeps_committing)

    assert "lease" in caught.value.hint
    assert DeltaTable(mine.lake_uri).to_pyarrow_table().num_rows == 0
    assert _recorded_batches(mine.lake_uri) == [f"foreign-{i}" for i in range(ATTEMPTS)]
    assert _data_files(mine.lake_uri) == set()


def test_a_rerun_with_nothing_new_writes_no_version_to_the_lake_or_the_quarantine(tmp_path):
    spec = _spec(tmp_path, "first", [write_csv(tmp_path / "src" / "a.csv", mixed_orders(10))])
    req, outcomes = stage(spec)
    commit(spec, req, outcomes)
    lake, quarantine = DeltaTable(spec.lake_uri).version(), DeltaTable(spec.quarantine_uri).version()

    again = commit(spec, req, outcomes)  # the same staged batches: another run already committed them

    assert again.committed == [] and again.skipped == [outcomes[0].batch_id]
    assert (again.lake.rows_written, again.quarantined) == (0, 0)
    assert DeltaTable(spec.lake_uri).version() == lake
    assert DeltaTable(spec.quarantine_uri).version() == quarantine
    assert [o.status for o in outcomes] == [FileStatus.SKIPPED] and outcomes[0].rows_read == 0


def test_a_run_without_bad_rows_writes_nothing_to_the_quarantine(tmp_path):
    spec = _spec(tmp_path, "clean", [write_csv(tmp_path / "src" / "a.csv", OrderBatch(rows=good_orders(10)))])
    req, outcomes = stage(spec)

    outcome = commit(spec, req, outcomes)

    assert outcome.lake.rows_written == 10 and outcome.quarantined == 0
    assert not Path(spec.quarantine_uri).exists()


def test_a_writer_whose_lease_was_taken_over_commits_nothing(tmp_path):
    spec = _spec(tmp_path, "slow", [write_csv(tmp_path / "src" / "a.csv", mixed_orders(10))])
    req, outcomes = stage(spec)
    engine = engine_for(spec.metadata_url)

    with hold_lease(engine, "orders", "slow", ttl_s=30, wait_s=1) as held:
        with engine.begin() as conn:  # the lease runs out and another run takes it over
            from sluice.runs.metastore import dataset_leases

            conn.execute(dataset_leases.update().values(holder="fast", token=dataset_leases.c.token + 1))
        from sluice.ingest import commit_files, commit_target

        with pytest.raises(LeaseLostError):
            commit_files(commit_target(req, spec.quarantine_uri), outcomes, metadata={}, lease=held)

    assert not (Path(spec.lake_uri) / "_delta_log").exists()
    assert not Path(spec.quarantine_uri).exists()


def test_the_lease_token_is_recorded_in_the_commit(tmp_path):
    spec = _spec(tmp_path, "r1", [write_csv(tmp_path / "src" / "a.csv", mixed_orders(5))])
    req, outcomes = stage(spec)
    engine = engine_for(spec.metadata_url)
    with hold_lease(engine, "orders", "earlier", ttl_s=30, wait_s=1):
        pass

    commit(spec, req, outcomes)

    assert history(spec.lake_uri)[0].metadata["lease_token"] == 2


def _quarantine_files(tmp_path: Path, dataset: str, name: str) -> tuple[str, list[Path]]:
    spec = dataclasses.replace(
        _spec(tmp_path, f"run-{dataset}-{name}", [write_csv(tmp_path / "src" / f"{name}.csv", mixed_orders(5))]),
        dataset=dataset,
    )
    _, outcomes = stage(spec)
    staged = Path(spec.staging) / spec.run_id
    return outcomes[0].batch_id, sorted(staged.glob("*/quarantine/*.arrow"))


def _concurrently(*calls) -> list[object]:
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def go(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_quarantine_commits_of_two_datasets_at_once_both_land(tmp_path):
    uri = str(tmp_path / "quarantine")
    a_id, a_files = _quarantine_files(tmp_path, "orders", "a")
    b_id, b_files = _quarantine_files(tmp_path, "orders_eu", "b")

    added = _concurrently(
        lambda: commit_quarantine(uri, {a_id: a_files}, dataset="orders", metadata={}),
        lambda: commit_quarantine(uri, {b_id: b_files}, dataset="orders_eu", metadata={}),
    )

    table = DeltaTable(uri)
    assert added == [mixed_orders(5).bad, mixed_orders(5).bad]
    assert table.to_pyarrow_table().num_rows == 2 * mixed_orders(5).bad
    assert {quarantine_app_id("orders", a_id), quarantine_app_id("orders_eu", b_id)} == set(_recorded_batches(uri))


def test_the_same_batch_committed_to_the_quarantine_by_four_writers_at_once_lands_once(tmp_path):
    uri = str(tmp_path / "quarantine")
    batch, files = _quarantine_files(tmp_path, "orders", "a")

    added = _concurrently(*[lambda: commit_quarantine(uri, {batch: files}, dataset="orders", metadata={})] * 4)

    assert sorted(a for a in added if not isinstance(a, BaseException)) == [0, 0, 0, mixed_orders(5).bad]
    assert DeltaTable(uri).to_pyarrow_table().num_rows == mixed_orders(5).bad
    assert _recorded_batches(uri) == [quarantine_app_id("orders", batch)]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True), min_size=2, max_size=3))
def test_any_mix_of_concurrent_runs_over_any_files_adds_up(tmp_path_factory, runs):
    tmp_path = tmp_path_factory.mktemp("mix")
    files = _sources(tmp_path)
    specs = [_spec(tmp_path, f"run-{i}", [files[j] for j in picked]) for i, picked in enumerate(runs)]

    reports = _concurrently(*[lambda s=s: run(s) for s in specs])

    assert [r["error"] for r in reports] == [""] * len(specs)
    _check_exactly_once(specs[0], reports)
