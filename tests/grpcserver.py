"""A local gRPC server streaming account events with resume tokens, for the gRPC source's tests.

:class:`FeedServer` serves ``feed.v1.Feed/Subscribe`` (``tests/protos/feed.proto``)
on 127.0.0.1 (an ephemeral port) from a thread pool. A call streams the events
after the token in ``resume_after`` (event ``i`` carries the token ``t<i>``),
then ends. Faults for the next calls (:class:`FeedFaults`): end a call
UNAVAILABLE after some messages, stall a call (send nothing) for a while after
some messages, send bytes that are no ``Event`` in place of some events, send
text where ``score`` should hold digits, and pace every message by a delay.
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf.message import Message

from sluice.sources.grpc.stubs import load_method

PROTO = Path(__file__).resolve().parent / "protos" / "feed.proto"
SERVICE, METHOD = "feed.v1.Feed", "Subscribe"
JUNK = b"\x0a\xff\xff\xff\xff\x0f"  # a length-delimited field longer than the message: no Event parses from it


@dataclass
class FeedFaults:
    unavailable_after: list[int] = field(default_factory=list)  # per call, in turn: end UNAVAILABLE after N messages
    stall_after: list[int] = field(default_factory=list)  # per call, in turn: stall after N messages
    stall_s: float = 5.0
    junk: set[int] = field(default_factory=set)  # events sent as bytes that do not parse
    bad_score: set[int] = field(default_factory=set)  # events whose score is not digits
    tokens_every: int = 1  # only every n-th event carries its token (and the last one)
    delay_s: float = 0.0  # before each message


@dataclass
class FeedState:
    events: int
    faults: FeedFaults = field(default_factory=FeedFaults)
    calls: list[str] = field(default_factory=list)  # resume_after of each call
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def token(i: int) -> str:
    return f"t{i:06d}"


def event_id(i: int) -> str:
    return f"E{i:06d}"


class FeedServer:
    def __init__(self, events: int = 50, tls: tuple[bytes, bytes] | None = None) -> None:
        """``tls``: a PEM key and certificate to serve TLS with (``None``: plaintext)."""
        self.method = load_method(PROTO, SERVICE, METHOD)
        self.state = FeedState(events)
        self._stop = threading.Event()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.unary_stream_rpc_method_handler(
            self._subscribe, request_deserializer=self.method.request.FromString, response_serializer=None
        )
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler}),))
        if tls is None:
            self.port = self._server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self._server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([tls]))
        self.target = f"127.0.0.1:{self.port}"

    def __enter__(self) -> FeedServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.stop(grace=None)

    def event(self, i: int) -> bytes:
        faults = self.state.faults
        if i in faults.junk:
            return JUNK
        msg: Message = self.method.response()
        score = "high" if i in faults.bad_score else str(i % 97)
        fields = {"event_id": event_id(i), "account": f"A{i % 7}", "amount": i * 10, "score": score}
        for name, value in fields.items():
            setattr(msg, name, value)
        msg.day = f"2026-01-{1 + i % 28:02d}"  # type: ignore[attr-defined]
        if i % faults.tokens_every == faults.tokens_every - 1 or i == self.state.events - 1:
            msg.resume_token = token(i)  # type: ignore[attr-defined]
        msg.recorded.FromSeconds(1767225600 + i)  # type: ignore[attr-defined]
        return msg.SerializeToString()

    def _subscribe(self, request: Message, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        after = str(request.resume_after)  # type: ignore[attr-defined]
        with self.state.lock:
            self.state.calls.append(after)
            faults = self.state.faults
            cut = faults.unavailable_after.pop(0) if faults.unavailable_after else None
            stall = faults.stall_after.pop(0) if faults.stall_after else None
        start = int(after[1:]) + 1 if after else 0
        for n, i in enumerate(range(start, self.state.events)):
            if cut is not None and n == cut:
                context.abort(grpc.StatusCode.UNAVAILABLE, "the server is going away")
            if stall is not None and n == stall and self._stop.wait(faults.stall_s):
                return
            if faults.delay_s and self._stop.wait(faults.delay_s):
                return
            if not context.is_active():
                return
            with self.state.lock:
                self.state.sent += 1
            yield self.event(i)
