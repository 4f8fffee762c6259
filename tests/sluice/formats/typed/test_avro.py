"""Avro values framed by confluent-kafka's AvroSerializer decode into the contract's columns."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference
from confluent_kafka.schema_registry.avro import AvroSerializer

from sluice.formats.typed import MessageReason
from sluice.settings import RecordLimits
from tests.sluice.formats.typed.conftest import decoder_for
from tests.sluice.formats.typed.messages import (
    AT,
    ORDER_V1,
    ORDER_V2,
    avro_order,
    avro_writer,
    context,
    message_classes,
    order_columns,
    order_proto,
    proto_order,
    protobuf_writer,
)


def test_records_round_trip_into_the_contract_columns_with_their_own_types(registry, producer_client) -> None:
    write = avro_writer(producer_client, ORDER_V1)
    values = [write(avro_order(i)) for i in range(1, 4)]

    batch = decoder_for(registry.url, "avro").decode(values)

    assert batch.rejected == []
    assert batch.rows.tolist() == [0, 1, 2]
    assert batch.table.column_names == [c.name for c in order_columns()]
    assert batch.table["order_id"].to_pylist() == [1, 2, 3]
    assert batch.table["order_id"].type == pa.int64()
    assert batch.table["order_ts"].to_pylist() == [AT] * 3
    assert batch.table["status"].to_pylist() == ["paid"] * 3
    assert batch.table["address_city"].to_pylist() == ["Berlin"] * 3
    assert batch.table["discount"].null_count == 3  # not in v1: null


def test_a_batch_asks_the_registry_once_per_schema_id_and_a_later_batch_not_at_all(registry, producer_client) -> None:
    one, two = avro_writer(producer_client, ORDER_V1), avro_writer(producer_client, ORDER_V2)
    values = [(one if i % 2 else two)(avro_order(i)) for i in range(400)]
    decoder = decoder_for(registry.url, "avro")
    asked = len(registry.requests("GET", "/schemas/ids/"))

    first = decoder.decode(values)
    second = decoder.decode(values)

    assert len(first.rows) == len(second.rows) == 400
    assert len(registry.requests("GET", "/schemas/ids/")) - asked == 2
    assert sorted(first.schema_ids.values()) == [200, 200]


def test_an_added_optional_field_decodes_next_to_messages_of_the_older_version(registry, producer_client) -> None:
    old, new = avro_writer(producer_client, ORDER_V1), avro_writer(producer_client, ORDER_V2)
    values = [old(avro_order(1)), new(avro_order(2, discount=0.25)), new(avro_order(3, discount=None))]

    batch = decoder_for(registry.url, "avro").decode(values)

    assert batch.rejected == []
    assert batch.table["discount"].to_pylist() == [None, 0.25, None]
    assert batch.table["order_id"].to_pylist() == [1, 2, 3]


def test_a_field_the_writer_lacks_and_the_contract_requires_is_schema_incompatible(registry, producer_client) -> None:
    old, new = avro_writer(producer_client, ORDER_V1), avro_writer(producer_client, ORDER_V2)
    values = [old(avro_order(1)), new(avro_order(2, discount=0.5))]

    batch = decoder_for(registry.url, "avro", columns=order_columns(discount_nullable=False)).decode(values)

    assert batch.rows.tolist() == [1]
    [rejected] = batch.rejected
    assert (rejected.index, rejected.reason) == (0, MessageReason.SCHEMA_INCOMPATIBLE)
    assert "discount" in rejected.detail


def test_a_field_whose_type_changed_between_versions_arrives_as_text(registry, producer_client) -> None:
    as_text = {**ORDER_V1, "fields": [{"name": "order_id", "type": "string"}, *ORDER_V1["fields"][1:]]}
    values = [
        avro_writer(producer_client, ORDER_V1)(avro_order(7)),
        avro_writer(producer_client, as_text)({**avro_order(8), "order_id": "8"}),
    ]

    batch = decoder_for(registry.url, "avro").decode(values)

    assert batch.table["order_id"].type == pa.string()
    assert batch.table["order_id"].to_pylist() == ["7", "8"]


def test_a_protobuf_schema_id_in_an_avro_stream_is_schema_incompatible(registry, producer_client) -> None:
    classes = message_classes(order_proto())
    value = protobuf_writer(producer_client, classes["Order"])(proto_order(classes, 1))

    batch = decoder_for(registry.url, "avro").decode([value])

    assert [(r.reason, "PROTOBUF" in r.detail) for r in batch.rejected] == [(MessageReason.SCHEMA_INCOMPATIBLE, True)]


def test_a_value_that_is_not_a_record_is_schema_incompatible(registry, producer_client) -> None:
    value = avro_writer(producer_client, {"type": "string"}, topic="plain")("just text")

    batch = decoder_for(registry.url, "avro").decode([value])

    assert [r.reason for r in batch.rejected] == [MessageReason.SCHEMA_INCOMPATIBLE]


NODE = {
    "type": "record",
    "name": "Node",
    "fields": [{"name": "order_id", "type": "long"}, {"name": "next", "type": ["null", "Node"]}],
}


def _linked(depth: int) -> dict:
    node: dict = {"order_id": depth, "next": None}
    for i in range(depth - 1):
        node = {"order_id": i, "next": node}
    return node


def test_a_recursive_schema_decodes_within_the_nesting_limit(registry, producer_client) -> None:
    value = avro_writer(producer_client, NODE, topic="chain")(_linked(5))

    batch = decoder_for(registry.url, "avro", columns=order_columns()[:1]).decode([value])

    assert batch.rejected == []
    assert batch.table["order_id"].to_pylist() == [3]


@pytest.mark.parametrize("levels", [65, 200_000])
def test_a_payload_nested_past_the_limit_is_quarantined_not_a_crash(registry, producer_client, levels) -> None:
    # fastavro's compiled reader overflows the C stack (SIGSEGV) near 5,000 levels of such a payload.
    write = avro_writer(producer_client, NODE, topic="chain")
    header = write(_linked(1))[:5]
    value = header + b"\x02\x02" * levels + b"\x02\x00"  # order_id 1, then `next` present, `levels` times

    batch = decoder_for(registry.url, "avro", columns=order_columns()[:1], limits=RecordLimits()).decode([value])

    assert [r.reason for r in batch.rejected] == [MessageReason.TOO_DEEPLY_NESTED]
    assert "SLUICE_MAX_NESTING_DEPTH" in batch.rejected[0].detail


@pytest.mark.timeout(30)
def test_an_array_of_items_that_take_no_bytes_is_refused_before_a_block_count_can_hang(
    registry, producer_client
) -> None:
    schema = {
        "type": "record",
        "name": "Holes",
        "fields": [{"name": "order_id", "type": "long"}, {"name": "gaps", "type": {"type": "array", "items": "null"}}],
    }
    header = avro_writer(producer_client, schema, topic="holes")({"order_id": 1, "gaps": []})[:5]
    value = header + b"\x02" + b"\xfe\xff\xff\xff\x0f" + b"\x00"  # a block of 2**31 - 1 nulls in 5 bytes

    batch = decoder_for(registry.url, "avro", columns=order_columns()[:1]).decode([value])

    assert [r.reason for r in batch.rejected] == [MessageReason.SCHEMA_INCOMPATIBLE]
    assert "take no bytes" in batch.rejected[0].detail


def _register_with_reference(client, topic: str, referenced: dict, record: dict):
    """A writer of ``record``, whose schema names a type of ``referenced``, registered on its own."""
    name = f"{referenced['namespace']}.{referenced['name']}"
    client.register_schema(name, Schema(json.dumps(referenced), "AVRO"))
    schema = Schema(json.dumps(record), "AVRO", [SchemaReference(name, name, 1)])
    serializer = AvroSerializer(client, schema)
    return lambda value: serializer(value, context(topic))


def test_a_type_from_a_referenced_schema_decodes(registry, producer_client) -> None:
    address = {"type": "record", "name": "Address", "namespace": "shop", "fields": [{"name": "city", "type": "string"}]}
    order = {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "fields": [{"name": "order_id", "type": "long"}, {"name": "address", "type": "shop.Address"}],
    }
    write = _register_with_reference(producer_client, "with-refs", address, order)

    batch = decoder_for(registry.url, "avro", columns=order_columns()[:1] + order_columns()[5:6]).decode(
        [write({"order_id": 4, "address": {"city": "Ulm"}})]
    )

    assert batch.rejected == []
    assert batch.table["order_id"].to_pylist() == [4]
    assert batch.table["address_city"].to_pylist() == ["Ulm"]


def test_a_recursive_type_from_a_referenced_schema_is_guarded_too(registry, producer_client) -> None:
    node = {
        "type": "record",
        "name": "Node",
        "namespace": "shop",
        "fields": [{"name": "next", "type": ["null", "shop.Node"]}],
    }
    order = {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "fields": [{"name": "order_id", "type": "long"}, {"name": "chain", "type": "shop.Node"}],
    }
    write = _register_with_reference(producer_client, "chained", node, order)
    header = write({"order_id": 1, "chain": {"next": None}})[:5]

    batch = decoder_for(registry.url, "avro", columns=order_columns()[:1]).decode(
        [header + b"\x02" + b"\x02" * 200_000 + b"\x00"]
    )

    assert [r.reason for r in batch.rejected] == [MessageReason.TOO_DEEPLY_NESTED]
