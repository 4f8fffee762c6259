"""References in ``ingest-stream``: clicks arriving before their users, under each policy, on the mock Kafka cluster."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake

from flows.ingest_stream import ingest_stream
from sluice.lake import held
from sluice.lake.table import open_table, table_uri
from sluice.runs.metastore import engine_for, list_runs
from sluice.settings import get_settings
from sluice.sources.streams import sink
from tests.sluice.sources.streams.brokers import produce_kafka
from tests.sluice.sources.streams.conftest import kafka, kafka_cluster  # noqa: F401

pytestmark = pytest.mark.integration

CLICKS = """
name: clicks
owner: tests@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {{column: at}}
columns:
  - {{name: id, type: int64}}
  - {{name: at, type: timestamp}}
  - {{name: user, type: string}}
references:
  - columns: [user]
    to: users.user_id
    policy: {policy}
    hold_timeout: 1h
"""


def click(i: int, user: str) -> bytes:
    return f'{{"id": {i}, "at": "2024-03-05T10:00:00Z", "user": "{user}"}}'.encode()


def _home(tmp_path, monkeypatch, policy: str) -> None:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "clicks.yaml").write_text(CLICKS.format(policy=policy), encoding="utf-8")
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    get_settings(fresh=True)


def _users(ids: list[str], mode: str = "append") -> None:
    """Users land by another writer: the parent's lake table is all a reference reads."""
    write_deltalake(table_uri(get_settings().lake_root(), "users"), pa.table({"user_id": ids}), mode=mode)


def _ids(dataset: str = "clicks") -> list[int]:
    table = open_table(table_uri(get_settings().lake_root(), dataset))
    return [] if table is None else sorted(table.to_pyarrow_table(columns=["id"]).column("id").to_pylist())


def _held() -> int:
    table = open_table(held.held_uri(get_settings().lake_root(), "clicks"))
    return 0 if table is None else table.to_pyarrow_table().num_rows


def _orphans_quarantined() -> int:
    table = open_table(get_settings().quarantine_root())
    if table is None:
        return 0
    reasons = DeltaTable(get_settings().quarantine_root()).to_pyarrow_table(columns=["reason"]).column("reason")
    return int(pc.sum(pc.equal(reasons, "orphan_reference")).as_py() or 0)


def _releases() -> list:
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        return [r for r in list_runs(conn, dataset="clicks", limit=100) if r.flow == "release-held"]


def _run(bootstrap: str, topic: str, max_records: int = 4, group: str = "refs"):
    group = f"{group}-{topic}"  # a group of its own: a group the session used before rebalances first
    return ingest_stream(
        "clicks", "kafka", topic, address=bootstrap, group=group, idle_seconds=2.0, max_records=max_records
    )


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("quarantine", {"written": 4, "quarantined": 2, "held": 0, "warned": 0, "lake": [0, 1, 3, 4]}),
        ("warn", {"written": 6, "quarantined": 0, "held": 0, "warned": 2, "lake": [0, 1, 2, 3, 4, 5]}),
        ("hold", {"written": 4, "quarantined": 0, "held": 2, "warned": 0, "lake": [0, 1, 3, 4]}),
    ],
)
def test_clicks_before_their_users_follow_the_policy_and_a_rerun_changes_nothing(
    prefect_api, sluice_home, tmp_path, monkeypatch, kafka, policy, expected
) -> None:
    _home(tmp_path, monkeypatch, policy)
    bootstrap, topic = kafka
    _users(["u1", "u2"])
    produce_kafka(bootstrap, topic, [click(i, f"u{i % 3 + 1}") for i in range(6)])  # ids 2 and 5: user u3

    first = _run(bootstrap, topic)
    again = _run(bootstrap, topic)

    assert (first.status, first.rows_read, first.rows_orphaned) == ("completed", 6, 2)
    assert (first.rows_written, first.rows_quarantined, first.rows_held) == (
        expected["written"],
        expected["quarantined"],
        expected["held"],
    )
    assert first.warnings.get("user:orphan_reference", 0) == expected["warned"]
    assert (_ids(), _held(), _orphans_quarantined()) == (expected["lake"], expected["held"], expected["quarantined"])
    assert (again.rows_read, again.rows_written, again.rows_held) == (0, 0, 0)
    assert (_ids(), _held(), _orphans_quarantined()) == (expected["lake"], expected["held"], expected["quarantined"])


def test_held_clicks_land_when_their_user_does_and_expire_once_when_it_never_comes(
    prefect_api, sluice_home, tmp_path, monkeypatch, kafka
) -> None:
    _home(tmp_path, monkeypatch, "hold")
    bootstrap, topic = kafka
    _users(["u1"])
    produce_kafka(bootstrap, topic, [click(i, f"u{i % 3 + 1}") for i in range(6)])
    first = _run(bootstrap, topic)
    assert (first.rows_written, first.rows_held, _held()) == (2, 4, 4)

    _users(["u2"])  # u2 lands; u3 never does
    _run(bootstrap, topic)  # nothing new to read: the run releases what the parent's landing frees

    assert (_ids(), _held()) == ([0, 1, 3, 4], 2)
    assert [(r.rows_read, r.rows_written, r.rows_quarantined) for r in _releases()] == [(2, 2, 0)]
    _run(bootstrap, topic)
    assert (_ids(), _held(), len(_releases())) == ([0, 1, 3, 4], 2, 1)

    later = datetime.now(timezone.utc) + timedelta(hours=2)
    monkeypatch.setattr(held, "utcnow", lambda: later)
    _run(bootstrap, topic)
    _run(bootstrap, topic)

    assert (_ids(), _held(), _orphans_quarantined()) == ([0, 1, 3, 4], 0, 2)
    assert sorted((r.rows_written, r.rows_quarantined) for r in _releases()) == [(0, 2), (2, 0)]


def test_a_batch_whose_commit_failed_holds_its_clicks_once_when_redelivered_in_another_batch(
    prefect_api, sluice_home, tmp_path, monkeypatch, kafka
) -> None:
    _home(tmp_path, monkeypatch, "hold")
    bootstrap, topic = kafka
    _users(["u1", "u2"])
    produce_kafka(bootstrap, topic, [click(i, f"u{i % 3 + 1}") for i in range(6)])  # ids 2 and 5: user u3
    real, calls = sink.commit_rows, {"n": 0}

    def fail_first(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the process stopped after storing its held rows")
        return real(*args, **kwargs)

    monkeypatch.setattr(sink, "commit_rows", fail_first)
    with pytest.raises(RuntimeError, match="stopped after storing"):
        _run(bootstrap, topic)  # its first batch stores its clicks of u3, then its commit fails
    assert _ids() == [] and _held() >= 1

    # Delivered again (a consumer of another group reads from the start), in batches of other bounds.
    again = _run(bootstrap, topic, max_records=6, group="again")

    assert (again.rows_written, again.rows_held) == (4, 2)
    assert (_ids(), _held()) == ([0, 1, 3, 4], 2)  # clicks 2 and 5 once each, by the batches that committed
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    monkeypatch.setattr(held, "utcnow", lambda: later)
    _run(bootstrap, topic)
    _run(bootstrap, topic)
    assert (_ids(), _held(), _orphans_quarantined()) == ([0, 1, 3, 4], 0, 2)
