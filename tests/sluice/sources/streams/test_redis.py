"""Redis Streams: XACK after the lake commit, entries the lake holds acked unwritten, dead consumers taken over."""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

import pytest
import redis
from deltalake import DeltaTable

from sluice.sources.streams.base import BatchLimits
from sluice.sources.streams.consume import ConsumeSpec, consume
from sluice.validate.contracts import Contract
from tests.sluice.sources.streams.brokers import lake_ids, produce_redis, redis_source
from tests.sluice.sources.streams.conftest import REDIS_URL, event, make_sink

SPEC = ConsumeSpec(BatchLimits(max_records=25, max_wait_s=0.1), follow_s=0, idle_s=0.8)


def _pending(client: redis.Redis, stream: str) -> int:
    return int(client.xpending(stream, "sluice")["pending"])


def test_entries_land_once_and_are_acknowledged(
    redis_stream: tuple[redis.Redis, str], events_contract: Contract, tmp_path: Path
) -> None:
    client, stream = redis_stream
    ids = produce_redis(client, stream, [event(i) for i in range(100)])
    sink = make_sink(tmp_path, events_contract)
    out = consume(redis_source(REDIS_URL, stream), sink, SPEC)
    assert sorted(lake_ids(tmp_path)) == list(range(100))
    assert all(b.read <= 25 for b in out.batches)
    assert _pending(client, stream) == 0
    assert sink.positions(f"redis:{stream}")[stream].text() == ids[-1].decode().removesuffix("-0")


def test_entries_the_lake_holds_are_acknowledged_without_writing(
    redis_stream: tuple[redis.Redis, str], events_contract: Contract, tmp_path: Path
) -> None:
    client, stream = redis_stream
    produce_redis(client, stream, [event(i) for i in range(30)])
    sink = make_sink(tmp_path, events_contract)
    source = redis_source(REDIS_URL, stream)
    batch = source.poll(BatchLimits(max_records=30))
    sink.write(source.name, batch)  # committed, then the consumer dies before XACK
    source.close()
    assert _pending(client, stream) == 30
    out = consume(redis_source(REDIS_URL, stream), sink, SPEC)  # same consumer name: its pending entries first
    assert sum(b.duplicate for b in out.batches) == 30
    assert sum(b.written for b in out.batches) == 0
    assert _pending(client, stream) == 0
    assert sorted(lake_ids(tmp_path)) == list(range(30))


class _SlowReplies(redis.Redis):
    """A client whose every command's reply arrives late, as over a slow network."""

    def execute_command(self, *args: object, **options: object) -> object:
        reply = super().execute_command(*args, **options)
        threading.Event().wait(0.003)
        return reply


def test_consumers_polling_at_once_take_new_entries_in_turn(redis_stream: tuple[redis.Redis, str]) -> None:
    """Each batch of new entries comes after every batch committed before it, whatever the consumers' timing:
    otherwise a later batch committed first lifts the lake's id over an earlier one, which is then dropped."""
    client, stream = redis_stream
    produce_redis(client, stream, [event(i) for i in range(400)])
    lock, held, behind, taken = threading.Lock(), [(-1, -1)], [], []

    def consumer(name: str, seed: int) -> None:
        source, rng, limits = (
            redis_source(REDIS_URL, stream, consumer=name),
            random.Random(seed),
            BatchLimits(max_records=10, max_wait_s=0.05),
        )
        while True:
            batch = source.poll(limits)
            if not batch.messages:
                with lock:
                    if len(taken) >= 400:
                        break
                continue
            threading.Event().wait(rng.uniform(0, 0.01))  # validating and committing take a while
            first, last = batch.messages[0].offset, batch.messages[-1].offset
            with lock:
                if (first.major, first.minor) <= held[-1]:
                    behind.append(first.text())
                held.append(max(held[-1], (last.major, last.minor)))
                taken.extend(m.offset.text() for m in batch.messages)
            source.acknowledge(batch)
        source.close()

    threads = [threading.Thread(target=consumer, args=(f"c{i}", i)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert behind == [], f"batches read behind a committed one: {behind[:5]}"
    assert len(taken) == len(set(taken)) == 400
    assert _pending(client, stream) == 0


def test_a_dead_consumers_pending_entries_are_claimed_before_new_ones(
    redis_stream: tuple[redis.Redis, str], events_contract: Contract, tmp_path: Path
) -> None:
    client, stream = redis_stream
    produce_redis(client, stream, [event(i) for i in range(20)])
    dead = redis_source(REDIS_URL, stream, consumer="dead")
    assert len(dead.poll(BatchLimits(max_records=20))) == 20  # delivered, never committed
    dead.close()
    produce_redis(client, stream, [event(i) for i in range(20, 40)])
    sink = make_sink(tmp_path, events_contract)
    out = consume(redis_source(REDIS_URL, stream, consumer="heir", claim_idle_ms=300), sink, SPEC)
    assert sorted(lake_ids(tmp_path)) == list(range(40))
    first = DeltaTable(str(tmp_path / "lake" / "events"), version=0).to_pyarrow_table(columns=["id"])
    assert set(first.column("id").to_pylist()) <= set(range(20)), "new entries overtook the dead consumer's"
    assert sum(b.written for b in out.batches) == 40
    assert _pending(client, stream) == 0
    claimed = client.xinfo_consumers(stream, "sluice")
    assert {c["name"].decode(): c["pending"] for c in claimed} == {"dead": 0, "heir": 0}


def test_a_server_lost_before_the_acknowledgement_is_a_retried_unreachable_error(
    redis_stream: tuple[redis.Redis, str],
) -> None:
    from chaos.proxy import FaultProxy
    from sluice.sources.streams.errors import StreamUnreachableError
    from tasks.retry import is_transient

    client, stream = redis_stream
    produce_redis(client, stream, [event(i) for i in range(5)])
    with FaultProxy("127.0.0.1", 6379) as proxy:
        source = redis_source(f"redis://127.0.0.1:{proxy.port}/0", stream)
        batch = source.poll(BatchLimits(max_records=5, max_wait_s=0.5))
        proxy.inject(down=True)
        with pytest.raises(StreamUnreachableError, match="not acknowledged yet") as caught:
            source.acknowledge(batch)
        source.close()
    assert len(batch) == 5 and is_transient(caught.value)
    assert _pending(client, stream) == 5


def test_an_unreachable_server_is_named_by_host_and_port_never_by_its_password() -> None:
    from sluice.sources.streams.errors import StreamUnreachableError
    from sluice.sources.streams.lag import stream_lag

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"redis://:hunter2-secret@127.0.0.1:{port}/0"

    with pytest.raises(StreamUnreachableError) as connecting:
        redis_source(url, "orders")
    with pytest.raises(StreamUnreachableError) as lagging:
        stream_lag("redis", url, "orders", "sluice")

    for raised in (connecting, lagging):
        assert f"127.0.0.1:{port}" in str(raised.value) and "hunter2" not in str(raised.value)


class _SilentServer:
    """Accepts connections and never answers: a server hung, or blackholed behind a firewall."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(conn)

    def close(self) -> None:
        self._listener.close()
        for conn in self._held:
            conn.close()


def test_a_server_that_stops_answering_is_an_unreachable_error_not_a_hang() -> None:
    from sluice.sources.streams.errors import StreamUnreachableError
    from sluice.sources.streams.redis_streams import RedisConfig, RedisSource

    server = _SilentServer()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        with pytest.raises(StreamUnreachableError, match=f"127.0.0.1:{server.port}"):
            RedisSource(RedisConfig(url, "orders", "sluice", "c1", timeout_s=0.5))
    finally:
        server.close()
