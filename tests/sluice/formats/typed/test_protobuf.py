"""Protobuf values framed by confluent-kafka's ProtobufSerializer decode into the contract's columns."""

from __future__ import annotations

import pyarrow as pa
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message_factory import GetMessageClass

from sluice.formats.typed import MessageReason
from sluice.validate.contracts import ColumnSpec, ColumnType
from tests.sluice.formats.typed.conftest import decoder_for
from tests.sluice.formats.typed.messages import (
    AT,
    ORDER_V1,
    avro_order,
    avro_writer,
    message_classes,
    order_columns,
    order_proto,
    proto_order,
    protobuf_writer,
)


def test_messages_round_trip_into_the_contract_columns(registry, producer_client) -> None:
    classes = message_classes(order_proto())
    write = protobuf_writer(producer_client, classes["Order"])
    values = [write(proto_order(classes, i)) for i in range(1, 4)]

    batch = decoder_for(registry.url, "protobuf").decode(values)

    assert batch.rejected == []
    assert batch.table["order_id"].to_pylist() == [1, 2, 3]
    assert batch.table["order_id"].type == pa.int64()
    assert batch.table["customer_id"].to_pylist() == ["C000001", "C000002", "C000003"]
    assert batch.table["order_ts"].to_pylist() == [AT] * 3
    assert batch.table["status"].to_pylist() == ["PAID"] * 3  # enums by name
    assert batch.table["discount"].null_count == 3  # v1 has no such field


def test_a_repeated_message_field_is_wrong_shape_for_a_text_column_never_json_text(registry, producer_client) -> None:
    classes = message_classes(order_proto())
    value = protobuf_writer(producer_client, classes["Order"])(proto_order(classes, 1))
    columns = [*order_columns(), ColumnSpec(name="lines", type=ColumnType.STRING, nullable=True)]

    batch = decoder_for(registry.url, "protobuf", columns=columns).decode([value])

    assert batch.table.num_rows == 0
    assert [(r.reason, r.detail) for r in batch.rejected] == [
        (MessageReason.WRONG_SHAPE, "lines: an array where a scalar is expected")
    ]


def test_the_message_index_picks_the_type_the_writer_used(registry, producer_client) -> None:
    # Order is the second message of its file: its values carry the index path [1].
    classes = message_classes(order_proto())
    order = protobuf_writer(producer_client, classes["Order"])(proto_order(classes, 5))
    note = protobuf_writer(producer_client, classes["Note"], topic="notes")(classes["Note"](text="hello"))

    batch = decoder_for(registry.url, "protobuf").decode([order, note])

    assert batch.table["order_id"].to_pylist() == [5]
    assert [(r.index, r.reason) for r in batch.rejected] == [(1, MessageReason.SCHEMA_INCOMPATIBLE)]
    assert "order_id" in batch.rejected[0].detail  # a Note has none of the required fields


def test_an_added_optional_field_decodes_next_to_messages_of_the_older_version(registry, producer_client) -> None:
    v1, v2 = message_classes(order_proto(version=1)), message_classes(order_proto(version=2))
    old, new = protobuf_writer(producer_client, v1["Order"]), protobuf_writer(producer_client, v2["Order"])
    values = [old(proto_order(v1, 1)), new(proto_order(v2, 2, discount=0.25)), new(proto_order(v2, 3))]

    batch = decoder_for(registry.url, "protobuf").decode(values)

    assert batch.rejected == []
    assert batch.table["discount"].to_pylist() == [None, 0.25, None]  # optional: unset is null, not 0.0
    assert len({s for s in batch.schema_ids}) == 2


def test_a_value_cut_inside_a_field_is_truncated(registry, producer_client) -> None:
    classes = message_classes(order_proto())
    value = protobuf_writer(producer_client, classes["Order"])(proto_order(classes, 1))

    batch = decoder_for(registry.url, "protobuf").decode([value[:12], value[:-1]])

    assert [r.reason for r in batch.rejected] == [MessageReason.PAYLOAD_TRUNCATED] * 2


def test_a_message_index_that_names_no_type_is_corrupt(registry, producer_client) -> None:
    classes = message_classes(order_proto())
    value = protobuf_writer(producer_client, classes["Order"])(proto_order(classes, 1))
    assert value[5:7] == b"\x02\x02"  # one index, 1 (zigzag)

    batch = decoder_for(registry.url, "protobuf").decode([value[:5] + b"\x02\x0e" + value[7:]])  # index 7

    assert [r.reason for r in batch.rejected] == [MessageReason.PAYLOAD_CORRUPT]
    assert "[7]" in batch.rejected[0].detail


def test_an_avro_schema_id_in_a_protobuf_stream_is_schema_incompatible(registry, producer_client) -> None:
    value = avro_writer(producer_client, ORDER_V1)(avro_order(1))

    batch = decoder_for(registry.url, "protobuf").decode([value])

    assert [r.reason for r in batch.rejected] == [MessageReason.SCHEMA_INCOMPATIBLE]
    assert "AVRO" in batch.rejected[0].detail


def test_a_type_imported_from_another_file_is_read_through_the_registered_reference(registry, producer_client) -> None:
    field = descriptor_pb2.FieldDescriptorProto
    common = descriptor_pb2.FileDescriptorProto(name="shop/common.proto", package="shop.common", syntax="proto3")
    city = common.message_type.add(name="Address")
    city.field.add(name="city", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    main = descriptor_pb2.FileDescriptorProto(name="shop/order.proto", package="shop", syntax="proto3")
    main.dependency.append("shop/common.proto")
    order = main.message_type.add(name="Order")
    order.field.add(name="order_id", number=1, type=field.TYPE_INT64, label=field.LABEL_OPTIONAL)
    order.field.add(
        name="address", number=2, type=field.TYPE_MESSAGE, type_name=".shop.common.Address", label=field.LABEL_OPTIONAL
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(common)
    pool.Add(main)
    kind = GetMessageClass(pool.FindMessageTypeByName("shop.Order"))
    message = kind(order_id=3)
    message.address.city = "Ulm"  # type: ignore[attr-defined]
    value = protobuf_writer(producer_client, kind, topic="with-imports")(message)

    columns = [order_columns()[0], ColumnSpec(name="city", type=ColumnType.STRING, path="address.city")]
    batch = decoder_for(registry.url, "protobuf", columns=columns).decode([value])

    assert registry.requests("POST", "/subjects/shop/common.proto/versions")  # registered as a reference
    assert batch.rejected == []
    assert batch.table["order_id"].to_pylist() == [3]
    assert batch.table["city"].to_pylist() == ["Ulm"]
