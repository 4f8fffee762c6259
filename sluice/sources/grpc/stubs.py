"""A service's method and message classes, compiled from its ``.proto`` at run time (no generated code kept).

:func:`load_method` runs ``grpc_tools.protoc`` on the ``.proto`` (its folder and
the well-known types on the include path) into a descriptor set in a temporary
folder, loads it into a descriptor pool of its own, and finds the service's
method: it must be server-streaming. A ``.proto`` that does not compile, an
unknown service or method, or a method that does not stream is a
:class:`ConfigError` that says which.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError, Message

from sluice.errors import ConfigError

_PROTOC = threading.Lock()  # protoc writes its errors to the process's stderr: one at a time, captured


@dataclass(frozen=True)
class StreamMethod:
    """A server-streaming method: its path on the wire and its request and response classes."""

    path: str  # /package.Service/Method
    request: type[Message]
    response: type[Message]


def _captured_protoc(args: list[str]) -> tuple[int, str]:
    """Run protoc with ``args``; its exit code and what it wrote to stderr."""
    from grpc_tools import protoc  # type: ignore[import-untyped]

    with _PROTOC, tempfile.TemporaryFile() as err:
        saved = os.dup(2)
        try:
            os.dup2(err.fileno(), 2)
            code = int(protoc.main(args))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        return code, err.read().decode("utf-8", "replace").strip()


def descriptor_set(proto: Path) -> descriptor_pb2.FileDescriptorSet:
    """``proto`` and what it imports, compiled."""
    if not proto.is_file():
        raise ConfigError(f"the .proto {proto} does not exist", hint="the path is relative to the description")
    include = str(resources.files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory(prefix="sluice-proto-") as tmp:
        out = Path(tmp) / "set.pb"
        code, errors = _captured_protoc(
            [
                "protoc",
                f"-I{proto.parent.resolve()}",
                f"-I{include}",
                f"--descriptor_set_out={out}",
                "--include_imports",
                str(proto.resolve()),
            ]
        )
        if code != 0 or not out.is_file():
            detail = errors.splitlines()[-1] if errors else f"protoc exited {code}"
            raise ConfigError(f"the .proto {proto} does not compile: {detail}", hint="fix the .proto")
        found = descriptor_pb2.FileDescriptorSet()
        try:
            found.ParseFromString(out.read_bytes())
        except DecodeError:
            raise ConfigError(f"protoc wrote no descriptor set for {proto}", hint="fix the .proto") from None
        return found


def _method(pool: descriptor_pool.DescriptorPool, service: str, method: str, proto: Path) -> MethodDescriptor:
    try:
        svc = pool.FindServiceByName(service)
    except KeyError:
        raise ConfigError(
            f"the .proto {proto} has no service {service!r}", hint="name it with its package: package.Service"
        ) from None
    found = svc.methods_by_name.get(method)
    if found is None:
        names = ", ".join(sorted(svc.methods_by_name)) or "none"
        raise ConfigError(f"service {service} has no method {method!r}", hint=f"its methods: {names}")
    if not found.server_streaming or found.client_streaming:
        raise ConfigError(
            f"{service}.{method} is not a server-streaming method",
            hint="the source reads `rpc M(Request) returns (stream Message)`",
        )
    return found


def load_method(proto: Path, service: str, method: str) -> StreamMethod:
    """The server-streaming ``service.method`` of ``proto`` (see the module doc)."""
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_set(proto).file:
        try:
            pool.Add(file)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"the .proto {proto} cannot be loaded: {exc}", hint="fix the .proto") from None
    found = _method(pool, service, method, proto)
    return StreamMethod(
        f"/{found.containing_service.full_name}/{found.name}",
        message_factory.GetMessageClass(found.input_type),
        message_factory.GetMessageClass(found.output_type),
    )
