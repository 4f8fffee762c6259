"""A server-streaming call read message by message, reopened from the last resume token when it fails.

:meth:`GrpcStream.messages` calls the method with the description's request
and the token to resume after, and yields each message as it arrives (raw bytes
parsed here, so a message that does not parse is yielded with its error, never
ending the stream). A call that ends UNAVAILABLE or DEADLINE_EXCEEDED, or that
stalls (no message for ``idle_s``: it is cancelled), is reopened after a
jittered backoff from the last token received; ``max_retries`` failures with no
new token between them raise :class:`SourceUnreachableError`. Any other status is
a :class:`SourceError` naming it. ``None`` is yielded each time the call is
reopened, so a batch can be committed while the server recovers.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc  # type: ignore[import-untyped]
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from sluice.errors import ConfigError, SourceError, SourceUnreachableError
from sluice.sources.grpc.spec import GrpcSpec, Retries
from sluice.sources.grpc.stubs import StreamMethod

log = logging.getLogger("sluice.grpc")
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass(frozen=True)
class Received:
    """One message: its bytes, the message they parse to (``None``: they do not), its token, and why not."""

    raw: bytes
    message: Message | None
    token: str | None
    error: str = ""


def backoff(retries: Retries, attempt: int) -> float:
    """Full jitter: a random wait up to ``backoff_s * 2**attempt``, capped at ``backoff_max_s``."""
    return random.uniform(0, min(retries.backoff_max_s, retries.backoff_s * 2**attempt))


def open_channel(spec: GrpcSpec) -> grpc.Channel:
    """A channel to ``spec.target``: TLS when the description asks for it, else plaintext."""
    if not spec.tls.enabled:
        return grpc.insecure_channel(spec.target)
    roots = None
    if spec.tls.ca_file:
        try:
            roots = (spec.folder / spec.tls.ca_file).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the CA file {spec.tls.ca_file}: {exc.strerror}", hint="check tls.ca_file"
            ) from None
    options = [("grpc.ssl_target_name_override", spec.tls.server_name)] if spec.tls.server_name else []
    return grpc.secure_channel(spec.target, grpc.ssl_channel_credentials(root_certificates=roots), options=options)


def build_request(spec: GrpcSpec, method: StreamMethod, after: str | None) -> Message:
    """The request for the messages after the token ``after`` (``None``: from the start)."""
    request = method.request()
    try:
        json_format.ParseDict(spec.request, request)
    except json_format.ParseError as exc:
        raise ConfigError(
            f"gRPC {spec.name}: the request does not fit {method.path}: {exc}", hint="fix request"
        ) from None
    names = request.DESCRIPTOR.fields_by_name
    if spec.token_param not in names or names[spec.token_param].type != names[spec.token_param].TYPE_STRING:
        raise ConfigError(
            f"gRPC {spec.name}: the request has no string field {spec.token_param!r}", hint="fix token_param"
        )
    if spec.token_field not in method.response.DESCRIPTOR.fields_by_name:
        raise ConfigError(f"gRPC {spec.name}: the message has no field {spec.token_field!r}", hint="fix token_field")
    if after:
        setattr(request, spec.token_param, after)
    return request


class _Watchdog:
    """Cancels a call that has waited ``idle_s`` for its next message (time spent by the reader does not count)."""

    def __init__(self, call: grpc.Future, idle_s: float) -> None:
        self.call, self.idle_s, self.stalled = call, idle_s, False
        self.since: float | None = None  # when the call began waiting for its next message (None: not waiting)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="grpc-watchdog", daemon=True)
        self._thread.start()

    def waiting(self, yes: bool) -> None:
        self.since = time.monotonic() if yes else None

    def _watch(self) -> None:
        while not self._done.wait(min(self.idle_s / 4, 0.5)):
            since = self.since
            if since is not None and time.monotonic() - since > self.idle_s:
                self.stalled = True
                self.call.cancel()
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


@dataclass
class GrpcStream:
    spec: GrpcSpec
    method: StreamMethod
    sleep: Callable[[float], None] = time.sleep
    calls: int = 0
    retries: int = 0
    stalls: int = 0
    channel: grpc.Channel | None = field(default=None, repr=False)

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def _parse(self, raw: bytes) -> Received:
        message = self.method.response()
        try:
            message.ParseFromString(raw)
        except (DecodeError, RuntimeError) as exc:
            return Received(raw, None, None, f"not a {message.DESCRIPTOR.full_name}: {exc}")
        token = getattr(message, self.spec.token_field)
        return Received(raw, message, str(token) if token else None)

    def _call(self, after: str | None) -> Iterator[Received]:
        if self.channel is None:
            self.channel = open_channel(self.spec)
        call = self.channel.unary_stream(self.method.path, request_serializer=type(self).serialize)(
            build_request(self.spec, self.method, after), timeout=self.spec.retries.deadline_s
        )
        self.calls += 1
        dog = _Watchdog(call, self.spec.retries.idle_s)
        try:
            while True:
                dog.waiting(True)
                raw = next(call, None)
                dog.waiting(False)
                if raw is None:
                    return
                yield self._parse(raw)
        except grpc.RpcError:
            if dog.stalled:
                self.stalls += 1
                raise _Stalled() from None
            raise
        finally:
            dog.stop()
            call.cancel()

    @staticmethod
    def serialize(message: Message) -> bytes:
        return message.SerializeToString()

    def messages(self, after: str | None) -> Iterator[Received | None]:
        """The messages after the token ``after``, across reopened calls (see the module doc)."""
        failures, last = 0, ""
        while True:
            try:
                for got in self._call(after):
                    if got.token and got.token != after:
                        failures, after = 0, got.token  # progress: the failures so far are forgiven
                    yield got
                return
            except _Stalled:
                last = f"no message for {self.spec.retries.idle_s:g} s (stalled)"
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
                detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                if code not in RETRYABLE:
                    raise _refused(self.spec, self.method, code, detail) from None
                last = f"{code.name}: {detail}"
            if failures >= self.spec.retries.max_retries:
                raise SourceUnreachableError(
                    f"gRPC {self.spec.name}: {self.method.path} at {self.spec.target} failed "
                    f"{failures + 1} times in a row, last {last}",
                    hint="the service is down or stalling; the next run resumes after the last committed token",
                )
            log.warning("gRPC %s: %s; reopened after the token %r", self.spec.name, last, after)
            self.sleep(backoff(self.spec.retries, failures))
            failures += 1
            self.retries += 1
            yield None


class _Stalled(Exception):
    """The watchdog cancelled a call that sent nothing for ``idle_s``."""


def _refused(spec: GrpcSpec, method: StreamMethod, code: grpc.StatusCode, detail: str) -> SourceError:
    hints = {
        grpc.StatusCode.UNIMPLEMENTED: f"the server at {spec.target} does not serve {method.path}: check service",
        grpc.StatusCode.INVALID_ARGUMENT: "the server refused the request: check request and the resume token",
        grpc.StatusCode.UNAUTHENTICATED: "the server wants credentials: check tls and the target",
        grpc.StatusCode.PERMISSION_DENIED: "the server wants credentials: check tls and the target",
    }
    return SourceError(
        f"gRPC {spec.name}: {method.path} at {spec.target} answered {code.name}: {detail}",
        hint=hints.get(code, "see the server's logs for the status"),
    )
