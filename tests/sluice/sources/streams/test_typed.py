"""Avro messages in the Confluent wire format, from Kafka into the lake through the schema registry."""

from __future__ import annotations

import struct
from pathlib import Path

import pyarrow.compute as pc
from confluent_kafka.schema_registry import SchemaRegistryClient
from deltalake import DeltaTable

from sluice.formats.typed import SchemaRegistry, TypedFormat
from sluice.sources.streams.base import BatchLimits
from sluice.sources.streams.consume import ConsumeSpec, consume
from sluice.sources.streams.typed import TypedValues
from sluice.validate.contracts import Contract, PartitionSpec
from tests.sluice.formats.typed.conftest import config_for
from tests.sluice.formats.typed.messages import ORDER_V1, ORDER_V2, avro_order, avro_writer, order_columns
from tests.sluice.sources.streams.brokers import kafka_source, produce_kafka
from tests.sluice.sources.streams.conftest import make_sink
from tests.standins.schema_registry import SchemaRegistryStandIn

ORDERS = Contract(
    name="typed_orders",
    owner="tests@sluice.example",
    freshness_sla="1d",
    primary_key=["order_id"],
    partition=PartitionSpec(column="order_ts"),
    columns=order_columns(),
)


def test_avro_orders_of_two_schema_versions_land_once_and_bad_payloads_are_quarantined(
    kafka: tuple[str, str], tmp_path: Path
) -> None:
    bootstrap, topic = kafka
    standin = SchemaRegistryStandIn().start()
    try:
        client = SchemaRegistryClient({"url": standin.url})
        v1, v2 = avro_writer(client, ORDER_V1, topic), avro_writer(client, ORDER_V2, topic)
        good = [v1(avro_order(i)) for i in range(1, 151)] + [v2(avro_order(i, discount=0.1)) for i in range(151, 201)]
        unknown_id = b"\x00" + struct.pack(">I", 9999) + good[0][5:]
        bad = [good[1][:8], b"\x01garbage", unknown_id]
        produce_kafka(bootstrap, topic, good + bad)

        decoder = TypedValues(TypedFormat.AVRO, SchemaRegistry(config_for(standin.url)))
        sink = make_sink(tmp_path, ORDERS, decoder=decoder)
        spec = ConsumeSpec(BatchLimits(max_records=64, max_wait_s=0.2), follow_s=0, idle_s=1.5)
        out = consume(kafka_source(bootstrap, topic, sink), sink, spec)
    finally:
        standin.stop()

    lake = DeltaTable(str(tmp_path / "lake" / "typed_orders")).to_pyarrow_table()
    assert sorted(lake.column("order_id").to_pylist()) == list(range(1, 201))
    assert pc.sum(pc.is_valid(lake.column("discount"))).as_py() == 50
    assert set(lake.column("status").to_pylist()) == {"paid"}
    assert sum(b.read for b in out.batches) == 203
    quarantine = DeltaTable(str(tmp_path / "quarantine")).to_pyarrow_table()
    assert sorted(quarantine.column("reason").to_pylist()) == sorted(
        ["payload_truncated", "payload_corrupt", "schema_unknown"]
    )
