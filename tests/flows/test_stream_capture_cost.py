"""What ingest-stream and capture-changes runs record of their use and tell Prefect, on the real brokers and server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from flows.capture_changes import capture_changes
from flows.ingest_stream import ingest_stream
from sluice.lake.table import table_uri
from sluice.runs.metastore import engine_for, get_run
from sluice.settings import get_settings
from sluice.sources.cdc.capture import wal2json_options
from sluice.sources.cdc.decode import TableRef
from tasks.events import dataset_resource
from tests.flows.test_build_aggregates import committed_events
from tests.flows.test_capture_changes import source, write_changes  # noqa: F401 - the fixture
from tests.pgcluster import pg_logical  # noqa: F401 - the session fixture
from tests.sluice.sources.cdc.conftest import CdcSource
from tests.sluice.sources.streams.brokers import produce_redis
from tests.sluice.sources.streams.conftest import EVENTS, REDIS_URL, event, redis_stream  # noqa: F401

pytestmark = pytest.mark.integration


def log_adds(uri: str) -> dict[int, tuple[str, int]]:
    """Per version of the table at ``uri``: the run id its commit names and the bytes its add actions add."""
    found = {}
    for entry in sorted((Path(uri) / "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in entry.read_text().splitlines() if line.strip()]
        info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
        run = str(info.get("sluice.run_id", "")).strip('"')
        found[int(entry.stem)] = (run, sum(a["add"]["size"] for a in actions if "add" in a))
    return found


def written_by(uri: str, run_id: str) -> tuple[list[int], int]:
    adds = log_adds(uri)
    versions = [v for v, (run, _) in adds.items() if run == run_id]
    return versions, sum(adds[v][1] for v in versions)


def test_a_stream_run_records_message_bytes_its_commits_cpu_memory_and_tells_prefect(
    prefect_api, events_home, redis_stream: tuple[redis.Redis, str]
) -> None:
    client, stream = redis_stream
    values = [event(i) for i in range(45)]
    produce_redis(client, stream, values)
    args = {"dataset": "events", "broker": "redis", "topic": stream, "address": REDIS_URL, "idle_seconds": 1.0}

    report = ingest_stream(**args, max_records=20)
    again = ingest_stream(**args)

    versions, added = written_by(table_uri(get_settings().lake_root(), "events"), report.run_id)
    assert report.bytes_read == sum(len(v) + len(str(i)) for i, v in enumerate(values))
    assert len(versions) == 3 and report.lake_version == versions[-1]
    assert report.bytes_written == added > 0
    assert report.cpu_seconds > 0 and report.peak_memory_bytes > 0 and report.workers == 1
    assert (report.source_kind, report.read_measure) == ("redis", "message bytes")
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        stored = get_run(conn, report.run_id)
    assert stored is not None
    assert (stored.bytes_read, stored.bytes_written, stored.source_kind) == (report.bytes_read, added, "redis")
    (sent,) = committed_events(report.run_id)
    assert sent.resource.id == dataset_resource("events")
    assert (sent.payload["version"], sent.payload["versions"]) == (versions[-1], versions)
    assert sent.payload["rows_written"] == 45
    assert (again.rows_read, again.bytes_read, again.bytes_written) == (0, 0, 0)
    assert committed_events(again.run_id) == []


def wal2json_bytes(src: CdcSource) -> int:
    """The bytes of wal2json text the slot holds for the accounts table, peeked without consuming."""
    with src.connect() as conn:
        row = conn.execute(
            "SELECT coalesce(sum(octet_length(data)), 0) "
            "FROM pg_logical_slot_peek_changes(%s, NULL, NULL, VARIADIC %s::text[])",
            (src.slot, wal2json_options(TableRef("public", "accounts", src.contract))),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_capture_records_wal2json_bytes_its_commits_cpu_memory_and_tells_prefect(prefect_api, source) -> None:
    made = write_changes(source, 30)
    held = wal2json_bytes(source)

    report = capture_changes("accounts", source.slot, dsn=source.dsn, batch_changes=20)
    again = capture_changes("accounts", source.slot, dsn=source.dsn)

    table = "accounts" if source.contract.keyed else "accounts_changes"
    versions, added = written_by(table_uri(get_settings().lake_root(), table), report.run_id)
    assert report.rows_read == made and report.bytes_read == held > 0
    assert len(versions) > 1 and report.lake_version == versions[-1]
    assert report.bytes_written == added > 0
    assert report.cpu_seconds > 0 and report.peak_memory_bytes > 0 and report.workers == 1
    assert (report.source_kind, report.read_measure) == ("cdc", "wal2json bytes")
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        stored = get_run(conn, report.run_id)
    assert stored is not None and (stored.bytes_read, stored.bytes_written) == (held, added)
    (sent,) = committed_events(report.run_id)
    assert sent.resource.id == dataset_resource(table)
    assert (sent.payload["version"], sent.payload["versions"]) == (versions[-1], versions)
    assert (again.rows_read, again.bytes_written) == (0, 0)
    assert committed_events(again.run_id) == []
