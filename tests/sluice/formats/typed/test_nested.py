"""Nested Avro records mapped onto columns by path, arrays kept as lists, wrong shapes quarantined."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from sluice.formats.typed import MessageReason
from sluice.validate.contracts import ColumnSpec, ColumnType
from tests.sluice.formats.typed.conftest import decoder_for
from tests.sluice.formats.typed.messages import avro_writer

CUSTOMER: dict[str, Any] = {
    "type": "record",
    "name": "Customer",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {
            "name": "address",
            "type": {
                "type": "record",
                "name": "Address",
                "fields": [
                    {"name": "city", "type": "string"},
                    {
                        "name": "geo",
                        "type": {"type": "record", "name": "Geo", "fields": [{"name": "zip", "type": "string"}]},
                    },
                ],
            },
        },
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "scores", "type": {"type": "array", "items": "long"}},
        {"name": "attributes", "type": {"type": "map", "values": "string"}},
    ],
}


def customer(i: int, **changes: Any) -> dict[str, Any]:
    record = {
        "id": i,
        "address": {"city": "Berlin", "geo": {"zip": f"1011{i}"}},
        "tags": ["new", "vip"],
        "scores": [i, i * 10],
        "attributes": {"colour": "blue"},
    }
    return {**record, **changes}


def columns(*extra: ColumnSpec) -> list[ColumnSpec]:
    return [
        ColumnSpec(name="id", type=ColumnType.INT64),
        ColumnSpec(name="address_city", type=ColumnType.STRING),
        ColumnSpec(name="zip", type=ColumnType.STRING, path="address.geo.zip"),
        ColumnSpec(name="tags", type=ColumnType.LIST, items=ColumnType.STRING),
        ColumnSpec(name="scores", type=ColumnType.LIST, items=ColumnType.INT64),
        ColumnSpec(name="colour", type=ColumnType.STRING, path="attributes.colour", nullable=True),
        *extra,
    ]


def test_a_nested_avro_record_fills_columns_by_path_and_its_arrays_stay_lists(registry, producer_client) -> None:
    write = avro_writer(producer_client, CUSTOMER, topic="customers")
    values = [write(customer(1)), write(customer(2, tags=[], attributes={}))]

    batch = decoder_for(registry.url, "avro", columns=columns()).decode(values)

    assert batch.rejected == []
    assert batch.table.to_pylist() == [
        {
            "id": 1,
            "address_city": "Berlin",
            "zip": "10111",
            "tags": ["new", "vip"],
            "scores": [1, 10],
            "colour": "blue",
        },
        {"id": 2, "address_city": "Berlin", "zip": "10112", "tags": [], "scores": [2, 20], "colour": None},
    ]
    assert batch.table.schema.field("scores").type == pa.list_(pa.int64())


def test_a_record_or_array_where_the_contract_wants_another_shape_is_wrong_shape(registry, producer_client) -> None:
    write = avro_writer(producer_client, CUSTOMER, topic="customers")
    value = write(customer(3))
    cases = [
        ColumnSpec(name="address", type=ColumnType.STRING, nullable=True),  # a record for text
        ColumnSpec(name="x", type=ColumnType.STRING, path="address.city.name", nullable=True),  # through a string
        ColumnSpec(name="y", type=ColumnType.LIST, items=ColumnType.STRING, path="address.city", nullable=True),
        ColumnSpec(name="z", type=ColumnType.STRING, path="tags", nullable=True),  # an array for text
    ]
    details = []
    for extra in cases:
        batch = decoder_for(registry.url, "avro", columns=columns(extra)).decode([value])
        assert batch.table.num_rows == 0 and [r.reason for r in batch.rejected] == [MessageReason.WRONG_SHAPE]
        details.append(batch.rejected[0].detail)
    assert details == [
        "address: an object where a scalar is expected",
        "x: expected an object on the path address.city.name: address.city is a scalar",
        "y: a scalar where an array is expected",
        "z: an array where a scalar is expected",
    ]


def test_a_path_the_writer_lacks_is_null_or_schema_incompatible_when_required(registry, producer_client) -> None:
    write = avro_writer(producer_client, CUSTOMER, topic="customers")
    value = write(customer(4))
    optional = ColumnSpec(name="street", type=ColumnType.STRING, path="address.street", nullable=True)
    required = ColumnSpec(name="country", type=ColumnType.STRING, path="address.country")

    kept = decoder_for(registry.url, "avro", columns=columns(optional)).decode([value])
    refused = decoder_for(registry.url, "avro", columns=columns(required)).decode([value])

    assert kept.table.column("street").to_pylist() == [None]
    assert [r.reason for r in refused.rejected] == [MessageReason.SCHEMA_INCOMPATIBLE]
