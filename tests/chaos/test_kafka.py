"""Kafka for the stream drills: orders keyed by their id on a mock cluster, broker processes frozen and thawed."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import psutil
import pytest
from confluent_kafka import Consumer
from hypothesis import given
from hypothesis import strategies as st

from chaos.kafka import (
    addresses,
    delete_topic,
    ensure_pids,
    ensure_topic,
    freeze,
    produce,
    thaw,
    why_unreachable,
)
from chaos.streams import DrillStream, order_json
from ops.errors import ChaosError
from sluice.settings import get_settings
from tests.sluice.sources.streams.mock_cluster import running


@pytest.fixture()
def sleeper() -> Iterator[int]:
    """A process of the test's own to freeze: its pid."""
    proc = subprocess.Popen(["sleep", "120"])
    try:
        yield proc.pid
    finally:
        thaw([proc.pid])
        proc.kill()
        proc.wait(timeout=10)


def stopped(pid: int, want: bool) -> bool:
    """Whether the process is stopped (``want`` True) or runs again, once the signal has taken effect."""
    for _ in range(500):
        if (psutil.Process(pid).status() == psutil.STATUS_STOPPED) == want:
            return want
        time.sleep(0.01)
    return not want


def test_bootstrap_servers_are_hosts_and_ports_with_9092_when_a_port_is_omitted() -> None:
    assert addresses("k1:9093, k2 ,:9094,") == [("k1", 9093), ("k2", 9092), ("127.0.0.1", 9094)]
    assert addresses("[::1]:9092") == [("[::1]", 9092)]


@given(st.text())
def test_any_bootstrap_text_gives_hosts_and_ports_or_nothing(text: str) -> None:
    for host, port in addresses(text):
        assert isinstance(host, str) and host and isinstance(port, int) and port >= 0


def test_bootstrap_servers_nobody_listens_on_are_named_as_unreachable() -> None:
    problem = why_unreachable("127.0.0.1:1,127.0.0.1:2")
    assert problem is not None and problem.startswith("kafka at 127.0.0.1:1 (") and "127.0.0.1:2 (" in problem


def test_orders_reach_the_drills_topic_keyed_by_their_order_id() -> None:
    ids = list(range(500, 540))
    with running() as (bootstrap, _pid):
        assert why_unreachable(bootstrap) is None
        ensure_topic(bootstrap, "drill-orders")  # the mock cluster has no controller: the producer creates it
        produce(bootstrap, "drill-orders", [order_json(i) for i in ids], ids)
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "judge", "auto.offset.reset": "earliest"})
        consumer.subscribe(["drill-orders"])
        found: dict[bytes | None, bytes | None] = {}
        while len(found) < len(ids):
            for msg in consumer.consume(len(ids) - len(found), timeout=10):
                assert msg.error() is None, msg.error()
                found[msg.key()] = msg.value()
        consumer.close()
        delete_topic(bootstrap, "drill-orders")  # kept, logged: no controller to delete it
    assert found == {str(i).encode(): order_json(i) for i in ids}


def test_frozen_processes_stop_until_they_are_thawed(sleeper: int) -> None:
    freeze([sleeper])
    assert stopped(sleeper, True)
    assert thaw([sleeper]) == [sleeper]
    assert not stopped(sleeper, False)


def test_healing_the_drill_stream_thaws_every_broker_process_the_drill_left_frozen(sleeper: int) -> None:
    stream = DrillStream("kafka", "sluice-drill-x-kafka", "127.0.0.1:1", None, frozen={sleeper})
    freeze([sleeper])
    assert stopped(sleeper, True)

    stream.heal()

    assert not stopped(sleeper, False) and stream.frozen == set()
    assert stream.proxied_url() == "127.0.0.1:1"  # Kafka runs go straight to the brokers


def test_the_freeze_refuses_no_pids_this_process_or_one_that_is_gone(
    drill_env: object, monkeypatch: pytest.MonkeyPatch, sleeper: int
) -> None:
    with pytest.raises(ChaosError, match="SLUICE_CHAOS_KAFKA_BROKER_PIDS is unset"):
        ensure_pids()
    with pytest.raises(ChaosError, match="is not a broker the drill may freeze"):
        ensure_pids([psutil.Process().pid])
    gone = subprocess.Popen(["true"])
    gone.wait()
    with pytest.raises(ChaosError, match=f"no process {gone.pid}"):
        ensure_pids([gone.pid])
    monkeypatch.setenv("SLUICE_CHAOS_KAFKA_BROKER_PIDS", f"[{sleeper}]")
    get_settings(fresh=True)
    assert ensure_pids() == [sleeper] and ensure_pids([sleeper]) == [sleeper]
