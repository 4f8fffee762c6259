"""Hostile values: each ends as a row or as one quarantine reason, never as an exception, a hang or a crash."""

from __future__ import annotations

import struct

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.formats.typed import MAX_UNKNOWN_LOOKUPS, DecodedBatch, MessageReason, TypedDecoder
from sluice.settings import RecordLimits
from tests.sluice.formats.typed.conftest import decoder_for
from tests.sluice.formats.typed.messages import (
    ORDER_V2,
    avro_order,
    avro_writer,
    message_classes,
    order_proto,
    proto_order,
    protobuf_writer,
)
from tests.standins.schema_registry import SchemaRegistryStandIn

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def standin():
    registry = SchemaRegistryStandIn().start()
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="module")
def samples(standin) -> dict[str, bytes]:
    """One valid value per format, registered in the module's registry."""
    client = SchemaRegistryClient({"url": standin.url})
    classes = message_classes(order_proto(version=2))
    return {
        "avro": avro_writer(client, ORDER_V2)(avro_order(1, discount=0.5)),
        "protobuf": protobuf_writer(client, classes["Order"])(proto_order(classes, 1, discount=0.5)),
    }


@pytest.fixture(scope="module")
def decoders(standin) -> dict[str, TypedDecoder]:
    return {kind: decoder_for(standin.url, kind) for kind in ("avro", "protobuf")}


def accounted(batch: DecodedBatch, n: int) -> list[MessageReason]:
    """Every value is a row or a rejection, once; the reasons, in batch order."""
    rejected = [r.index for r in batch.rejected]
    assert sorted(batch.rows.tolist() + rejected) == list(range(n))
    assert batch.table.num_rows == len(batch.rows)
    assert all(r.detail for r in batch.rejected)
    return [r.reason for r in sorted(batch.rejected, key=lambda r: r.index)]


@pytest.mark.parametrize("kind", ["avro", "protobuf"])
@FUZZ
@given(values=st.lists(st.binary(max_size=64), max_size=20))
def test_random_bytes_are_each_a_row_or_a_reason(decoders, kind, values) -> None:
    accounted(decoders[kind].decode(values), len(values))


@pytest.mark.parametrize("kind", ["avro", "protobuf"])
@FUZZ
@given(payload=st.binary(max_size=200))
def test_random_payloads_behind_a_known_schema_id_are_each_a_row_or_a_reason(decoders, samples, kind, payload) -> None:
    framed = samples[kind][:5] + (b"\x02\x02" if kind == "protobuf" else b"") + payload

    reasons = accounted(decoders[kind].decode([framed]), 1)

    assert set(reasons) <= {
        MessageReason.PAYLOAD_TRUNCATED,
        MessageReason.PAYLOAD_CORRUPT,
        MessageReason.SCHEMA_INCOMPATIBLE,
    }


@pytest.mark.parametrize("kind", ["avro", "protobuf"])
@FUZZ
@given(data=st.data())
def test_flipped_bytes_in_a_valid_value_are_each_a_row_or_a_reason(decoders, samples, kind, data) -> None:
    value = bytearray(samples[kind])
    at = data.draw(st.integers(5, len(value) - 1))
    value[at] = data.draw(st.integers(0, 255))

    accounted(decoders[kind].decode([bytes(value)]), 1)


def test_every_cut_of_an_avro_value_is_truncated(decoders, samples) -> None:
    value = samples["avro"]

    batch = decoders["avro"].decode([value[:n] for n in range(len(value))])

    assert accounted(batch, len(value)) == [MessageReason.PAYLOAD_TRUNCATED] * len(value)


def test_every_cut_of_a_protobuf_value_is_truncated_or_ends_at_a_field(decoders, samples) -> None:
    value = samples["protobuf"]

    batch = decoders["protobuf"].decode([value[:n] for n in range(len(value))])

    assert set(accounted(batch, len(value))) == {MessageReason.PAYLOAD_TRUNCATED}
    assert 0 < len(batch.rows) < 8  # the few cuts that fall between two top-level fields decode


@pytest.mark.parametrize("kind", ["avro", "protobuf"])
@given(magic=st.integers(1, 255))
def test_a_wrong_magic_byte_is_corrupt(decoders, samples, kind, magic) -> None:
    batch = decoders[kind].decode([bytes([magic]) + samples[kind][1:]])

    assert accounted(batch, 1) == [MessageReason.PAYLOAD_CORRUPT]
    assert "magic byte" in batch.rejected[0].detail


def test_unknown_schema_ids_are_unknown_and_cost_a_bounded_number_of_requests(standin, samples) -> None:
    decoder = decoder_for(standin.url, "avro")
    unknown = [struct.pack(">bI", 0, 10_000 + i) + samples["avro"][5:] for i in range(3 * MAX_UNKNOWN_LOOKUPS)]
    asked = len(standin.requests("GET", "/schemas/ids/"))

    batch = decoder.decode([samples["avro"], *unknown])

    assert accounted(batch, len(unknown) + 1) == [MessageReason.SCHEMA_UNKNOWN] * len(unknown)
    assert len(standin.requests("GET", "/schemas/ids/")) - asked == MAX_UNKNOWN_LOOKUPS + 1


def test_a_value_over_the_record_limit_is_quarantined_unread(standin, samples) -> None:
    limits = RecordLimits(max_record_bytes=4096)
    decoder = decoder_for(standin.url, "avro", limits=limits)
    huge = samples["avro"][:5] + b"\x00" * 5_000_000

    batch = decoder.decode([huge, samples["avro"]])

    assert accounted(batch, 2) == [MessageReason.RECORD_TOO_LARGE]
    assert "SLUICE_MAX_RECORD_BYTES" in batch.rejected[0].detail
    assert len(batch.rejected[0].excerpt) <= 1400  # 1 KiB in base64, not the value


def test_a_tombstone_is_quarantined_as_no_value(decoders, samples) -> None:
    assert accounted(decoders["avro"].decode([None, samples["avro"]]), 2) == [MessageReason.NO_VALUE]
