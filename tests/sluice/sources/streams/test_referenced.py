"""A stream sink checking references: held rows stored with their batch count once, even when the commit fails."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from sluice.ingest_held import release_dataset
from sluice.lake.frames import LeaseSpec
from sluice.lake.held import held_uri
from sluice.lake.held_view import held_rows
from sluice.lake.table import committed_batches, open_table, table_uri
from sluice.runs.metastore import engine_for
from sluice.runs.records import RunReport
from sluice.sources.streams import sink as sink_module
from sluice.sources.streams.base import BatchLimits
from sluice.sources.streams.consume import ConsumeSpec, consume
from sluice.sources.streams.referenced import ReferencedSink
from sluice.validate.contracts import parse_contract
from tests.sluice.sources.streams.brokers import kafka_source, produce_kafka
from tests.sluice.sources.streams.conftest import kafka, kafka_cluster  # noqa: F401

CLICKS = """
name: clicks
owner: tests@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: at}
columns:
  - {name: id, type: int64}
  - {name: at, type: timestamp}
  - {name: user, type: string}
references:
  - columns: [user]
    to: users.user_id
    policy: hold
"""


def click(i: int) -> bytes:
    return f'{{"id": {i}, "at": "2024-03-05T10:00:00Z", "user": "u{i % 2 + 1}"}}'.encode()


def _sink(settings) -> ReferencedSink:
    lease = LeaseSpec(engine_for(settings.metadata_db_url()), ttl_s=10, wait_s=30)
    contract = parse_contract(CLICKS)
    root = settings.lake_root()
    return ReferencedSink(contract, root, settings.staging_root(), settings.quarantine_root(), lease=lease)


def _consume(settings, bootstrap: str, topic: str) -> list:
    sink = _sink(settings)
    source = kafka_source(bootstrap, topic, sink, group=f"refs-{topic}")
    return consume(source, sink, ConsumeSpec(BatchLimits(max_records=100), idle_s=2.0)).batches


def _ids(settings) -> list[int]:
    table = open_table(table_uri(settings.lake_root(), "clicks"))
    return [] if table is None else sorted(table.to_pyarrow_table(columns=["id"]).column("id").to_pylist())


def test_held_rows_of_a_batch_whose_commit_failed_are_never_released_and_its_retry_lands_each_once(
    sluice_home, kafka, monkeypatch
) -> None:
    settings, (bootstrap, topic) = sluice_home, kafka
    write_deltalake(table_uri(settings.lake_root(), "users"), pa.table({"user_id": ["u1"]}))
    produce_kafka(bootstrap, topic, [click(i) for i in range(8)])  # odd ids: user u2, not landed
    real = sink_module.commit_rows

    def dies(*args, **kwargs):
        raise RuntimeError("the process died between the hold store and the lake commit")

    monkeypatch.setattr(sink_module, "commit_rows", dies)
    with pytest.raises(RuntimeError):
        _consume(settings, bootstrap, topic)
    stored = open_table(held_uri(settings.lake_root(), "clicks"))
    assert stored is not None and stored.to_pyarrow_table().num_rows >= 1 and _ids(settings) == []

    monkeypatch.setattr(sink_module, "commit_rows", real)
    batches = _consume(settings, bootstrap, topic)  # nothing was acknowledged: every message comes again
    assert sum(b.read for b in batches) == 8 and sum(b.held for b in batches) == 4
    assert _ids(settings) == [0, 2, 4, 6]

    write_deltalake(table_uri(settings.lake_root(), "users"), pa.table({"user_id": ["u2"]}), mode="append")
    base = RunReport("after-users", "clicks", "test", settings.env, datetime.now(timezone.utc))
    contract = parse_contract(CLICKS)
    report = release_dataset(settings, base, contract, settings.staging_root() / "release")
    again = release_dataset(settings, base, contract, settings.staging_root() / "release-2")

    assert report is not None and (report.rows_written, report.rows_duplicate) == (4, 0)
    assert again is None and _ids(settings) == list(range(8))
    # Rows of the batch that never committed stay, shown as such; no release ever takes them.
    uri = held_uri(settings.lake_root(), "clicks")
    batch_ids = open_table(uri).to_pyarrow_table().column("_batch_id").unique().to_pylist()
    committed = committed_batches(table_uri(settings.lake_root(), "clicks"), batch_ids)
    left = held_rows(uri, contract, {}, datetime.now(timezone.utc), committed)
    assert {r.fate for r in left} <= {"not committed"}
