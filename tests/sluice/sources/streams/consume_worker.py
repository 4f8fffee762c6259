"""A consumer of a Kafka topic, Redis stream or RabbitMQ queue that runs until killed, for the SIGKILL tests.

The tests start it through a forkserver that has imported this module, so a
worker is up in milliseconds instead of the seconds the imports take.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from sluice.lake.frames import LeaseSpec
from sluice.runs.metastore import engine_for
from sluice.sources.streams.base import BatchLimits, StreamBatch, StreamSource
from sluice.sources.streams.consume import ConsumeSpec, consume
from sluice.sources.streams.rabbitmq import RabbitSource
from sluice.validate.contracts import parse_contract
from tests.sluice.sources.streams.brokers import kafka_source, rabbit_source, redis_source
from tests.sluice.sources.streams.conftest import EVENTS, make_sink


class LateAcks:
    """A source whose acknowledgements follow the commit by up to 150 ms, so that kills land between the two."""

    def __init__(self, source: RabbitSource) -> None:
        self.source = source
        self.name = source.name
        self.poll, self.pause, self.resume, self.close = source.poll, source.pause, source.resume, source.close
        self.paused_partitions = source.paused_partitions

    def acknowledge(self, batch: StreamBatch) -> None:
        time.sleep(random.uniform(0, 0.15))
        self.source.acknowledge(batch)


def run(broker: str, address: str, name: str, home: Path, ready: Any) -> None:
    """Consume forever into ``home``'s lake, leased through ``home``'s metadata store; ``ready`` set once connected."""
    lease = LeaseSpec(engine_for(f"sqlite:///{home / 'sluice.db'}"), ttl_s=5, wait_s=60)
    sink = make_sink(home, parse_contract(EVENTS), lease=lease)
    source: StreamSource
    if broker == "kafka":
        source = kafka_source(address, name, sink)
    elif broker == "rabbitmq":
        source = LateAcks(rabbit_source(address, name))  # type: ignore[assignment]
    else:
        source = redis_source(address, name, "worker")
    ready.set()
    consume(source, sink, ConsumeSpec(BatchLimits(max_records=37, max_wait_s=0.05), follow_s=None))
