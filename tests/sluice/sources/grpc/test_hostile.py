"""Whatever a description, a .proto or a server's bytes hold: a stream, rows, quarantine entries or a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import ConfigError
from sluice.sources.grpc.sink import messages_chunk
from sluice.sources.grpc.spec import GrpcSpec, load_stream
from sluice.sources.grpc.stream import GrpcStream, build_request
from sluice.sources.grpc.stubs import load_method
from sluice.validate.contracts import Contract
from tests.grpcserver import METHOD, PROTO, SERVICE
from tests.sluice.sources.grpc.grpcfixtures import EVENTS, stream_description

CONTRACT = Contract.model_validate(EVENTS)
FEED = load_method(PROTO, SERVICE, METHOD)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/ ", max_size=20)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | names


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(list(stream_description("x"))), scalars, max_size=12))
def test_any_description_loads_or_is_a_config_error(tmp_path_factory, fields: dict[str, object]) -> None:
    path = Path(tmp_path_factory.mktemp("grpc")) / "feed.yaml"
    path.write_text(yaml.safe_dump({**stream_description("127.0.0.1:1"), **fields}), encoding="utf-8")

    try:
        spec = load_stream(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
    else:
        assert isinstance(spec, GrpcSpec)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_any_description_file_loads_or_is_a_config_error(tmp_path_factory, raw: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("grpc")) / "any.yaml"
    path.write_bytes(raw)

    with pytest.raises(ConfigError):
        load_stream(path)


proto_lines = st.sampled_from(
    [
        'syntax = "proto3";',
        "package feed.v1;",
        "message Event { string id = 1; }",
        "message Event { strin id = 1; }",
        "message Req { string after = 1; }",
        "service Feed { rpc Subscribe(Req) returns (stream Event); }",
        "service Feed { rpc Subscribe(Req) returns (Event); }",
        'import "missing.proto";',
        "}",
        "rpc",
    ]
)


@settings(max_examples=40, deadline=None)
@given(st.lists(proto_lines, max_size=6), st.sampled_from(["feed.v1.Feed", "Feed", "feed.v1.Other"]))
def test_any_proto_gives_the_method_or_a_config_error_saying_why(tmp_path_factory, lines: list[str], svc: str) -> None:
    path = Path(tmp_path_factory.mktemp("proto")) / "feed.proto"
    path.write_text("\n".join(lines), encoding="utf-8")

    try:
        found = load_method(path, svc, "Subscribe")
    except ConfigError as exc:
        assert any(w in str(exc) for w in ("does not compile", "no service", "no method", "not a server-streaming"))
    else:
        assert found.path == f"/{svc}/Subscribe"


def test_a_missing_proto_an_unknown_method_and_a_unary_method_are_config_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_method(tmp_path / "none.proto", SERVICE, METHOD)
    with pytest.raises(ConfigError, match="no method 'Unsubscribe'") as err:
        load_method(PROTO, SERVICE, "Unsubscribe")
    assert "Subscribe" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="not a server-streaming"):
        load_method(PROTO, SERVICE, "Latest")


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ({"request": {"topic": 3.5, "nope": 1}}, "does not fit"),
        ({"token_param": "topicz"}, "no string field 'topicz'"),
        ({"token_field": "cursor"}, "no field 'cursor'"),
    ],
)
def test_a_request_or_token_that_does_not_fit_the_method_is_a_config_error(override, says) -> None:
    spec = GrpcSpec.model_validate(stream_description("127.0.0.1:1", **override))

    with pytest.raises(ConfigError, match=says):
        build_request(spec, FEED, "t000001")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=20))
def test_any_bytes_from_a_server_become_rows_or_quarantine_entries_one_each(blobs: list[bytes]) -> None:
    stream = GrpcStream(GrpcSpec.model_validate(stream_description("127.0.0.1:1")), FEED)
    received = [stream._parse(b) for b in blobs]

    chunk = messages_chunk(received, CONTRACT)

    assert chunk.table.num_rows + len(chunk.malformed) == len(blobs)
    assert chunk.table.column_names == CONTRACT.column_names
    assert all(m.detail.startswith("not a feed.v1.Event") for m in chunk.malformed)


def test_a_proto_path_in_a_description_is_relative_to_the_description(tmp_path) -> None:
    (tmp_path / "grpc" / "protos").mkdir(parents=True)
    (tmp_path / "grpc" / "protos" / "feed.proto").write_bytes(PROTO.read_bytes())
    path = tmp_path / "grpc" / "feed.yaml"
    path.write_text(yaml.safe_dump(stream_description("127.0.0.1:1", proto="protos/feed.proto")), encoding="utf-8")

    spec = load_stream(path)

    assert load_method(spec.proto_path, spec.service, spec.method).path == "/feed.v1.Feed/Subscribe"
