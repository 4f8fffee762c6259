"""The gRPC checks of ``ops doctor``: each described stream's method compiles and its target answers.

For every stream described under ``SLUICE_APIS_DIR``'s ``grpc/`` folder: the
``.proto`` compiles and holds the server-streaming method, and the channel to
the target is ready within a deadline (nothing is called, so no stream is
opened). One line per stream.
"""

from __future__ import annotations

from pathlib import Path

from ops.doctor.models import CheckResult
from sluice.errors import SluiceError
from sluice.sources.grpc.spec import GrpcSpec, list_streams, load_stream
from sluice.sources.grpc.stream import open_channel
from sluice.sources.grpc.stubs import load_method

TIMEOUT_S = 5.0


def check_stream(spec: GrpcSpec, *, timeout: float = TIMEOUT_S) -> CheckResult:
    """Whether ``spec``'s method compiles and its target's channel is ready within ``timeout``."""
    import grpc  # type: ignore[import-untyped]

    name = f"gRPC {spec.name}"
    try:
        method = load_method(spec.proto_path, spec.service, spec.method)
        channel = open_channel(spec)
    except SluiceError as exc:
        return CheckResult.fail(name, str(exc).split("\n")[0], exc.hint)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        return CheckResult.fail(
            name, f"{spec.target} is not ready after {timeout:g} s", "check the target, the service and tls"
        )
    finally:
        channel.close()
    return CheckResult.ok(name, f"{spec.target} is ready; {method.path} streams")


def check_grpc_streams(root: Path, *, timeout: float = TIMEOUT_S) -> list[CheckResult]:
    """Every stream described in ``root``; none described: nothing to check."""
    results = []
    for stream in list_streams(root):
        try:
            spec = load_stream(root / f"{stream}.yaml")
        except SluiceError as exc:
            results.append(CheckResult.fail(f"gRPC {stream}", str(exc).split("\n")[0], exc.hint))
            continue
        results.append(check_stream(spec, timeout=timeout))
    return results
