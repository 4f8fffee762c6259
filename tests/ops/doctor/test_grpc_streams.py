"""ops doctor's gRPC checks: a described stream whose target answers passes; a dead target or bad .proto fails."""

from __future__ import annotations

import socket

import yaml

from ops.doctor.grpc_streams import check_grpc_streams
from ops.doctor.models import Status
from tests.grpcserver import FeedServer
from tests.sluice.sources.grpc.grpcfixtures import stream_description


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_ready_target_passes_and_a_dead_target_or_unknown_method_fails_with_a_hint(tmp_path) -> None:
    with FeedServer(events=1) as server:
        descriptions = {
            "live": stream_description(server.target, name="live"),
            "dead": stream_description(f"127.0.0.1:{_free_port()}", name="dead"),
            "wrong": stream_description(server.target, name="wrong", method="Unsubscribe"),
        }
        for name, body in descriptions.items():
            (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(body))
        (tmp_path / "broken.yaml").write_text("name: [unclosed")

        results = {r.name: r for r in check_grpc_streams(tmp_path, timeout=1.0)}

    assert results["gRPC live"].status is Status.OK and "/feed.v1.Feed/Subscribe" in results["gRPC live"].detail
    assert results["gRPC dead"].status is Status.FAIL and "not ready" in results["gRPC dead"].detail
    assert results["gRPC wrong"].status is Status.FAIL and "no method 'Unsubscribe'" in results["gRPC wrong"].detail
    assert results["gRPC broken"].status is Status.FAIL


def test_no_described_streams_means_nothing_to_check(tmp_path) -> None:
    assert check_grpc_streams(tmp_path / "grpc") == []
