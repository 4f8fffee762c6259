"""A gRPC stream synced into its dataset: from the token the lake holds to the end of the stream.

:meth:`StreamSync.run` reads the resume token of the newest commit
(:mod:`sluice.sources.grpc.sink`), opens the stream after it, and gathers
messages into batches: a batch is committed, with the token of its last
message, once it holds ``batching.records`` messages or ``batching.bytes``
bytes, once it is ``batching.seconds`` old (checked as messages arrive), when
the call is reopened after a failure, and when the stream ends. An error that
ends the run commits the batch under way first. A batch always ends on a
message that carries a token: messages after the last token are left for the
call that resumes after it (the server sends them again). A run killed at any point
resumes from the token of its last commit: no message is lost or committed
twice. When another run moved the token meanwhile, the batch is dropped and
the stream reopened from the table's token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sluice.errors import SluiceError, SourceError
from sluice.sources.api.sink import PageOutcome
from sluice.sources.api.sync import SyncOutcome
from sluice.sources.grpc.sink import GrpcSink, Stale
from sluice.sources.grpc.spec import GrpcSpec
from sluice.sources.grpc.stream import GrpcStream, Received

log = logging.getLogger("sluice.grpc")
STALE_RESTARTS = 20  # times a run reopens the stream because another run moved the token before it gives up


@dataclass
class Pending:
    """Messages received since the last commit, after the token ``after``.

    ``received`` ends with a message that carries a token; ``tail`` holds the
    messages after it, which no token can resume after yet: they wait for the
    next token, and are dropped when the call is reopened (the server sends them
    again after the token) or the stream ends without one.
    """

    after: str | None
    received: list[Received] = field(default_factory=list)
    tail: list[Received] = field(default_factory=list)
    size: int = 0
    started: float | None = None  # time.monotonic() of the first message
    token: str | None = None  # the token of the last message of ``received``

    def add(self, got: Received) -> None:
        self.tail.append(got)
        self.size += len(got.raw)
        if self.started is None:
            self.started = time.monotonic()
        if got.token:
            self.received += self.tail
            self.tail, self.token = [], got.token

    def drop_tail(self) -> int:
        dropped, self.tail = len(self.tail), []
        self.size = sum(len(g.raw) for g in self.received)
        return dropped

    def full(self, spec: GrpcSpec) -> bool:
        """Whether the batch is due: it ends on a token and is at one of its bounds."""
        if self.tail or not self.received:
            return False
        bounds = spec.batching
        old = self.started is not None and time.monotonic() - self.started >= bounds.seconds
        return len(self.received) >= bounds.records or self.size >= bounds.bytes or old


class _Restart(Exception):
    def __init__(self, token: str | None) -> None:
        self.token = token


@dataclass
class StreamSync:
    spec: GrpcSpec
    stream: GrpcStream
    sink: GrpcSink
    on_batch: Callable[[PageOutcome], None] | None = None

    def __post_init__(self) -> None:
        self.result = SyncOutcome(self.spec.name)  # what the run did so far (also after it raised)

    def _commit(self, pending: Pending) -> str | None:
        """Commit ``pending`` up to its last token; the token the next batch starts after."""
        dropped = pending.drop_tail()
        if dropped:
            log.info("gRPC %s: %d message(s) after the last token left for the next call", self.spec.name, dropped)
        if not pending.received:
            return pending.after
        token = pending.token
        done = self.sink.write(pending.received, pending.after, token)
        if isinstance(done, Stale):
            log.warning("gRPC %s: another run moved the token; reopened from the table's", self.spec.name)
            raise _Restart(done.token)
        self.result.add(done)
        self.result.pages += 1
        self.result.position = token or ""
        if self.on_batch is not None:
            self.on_batch(done)
        return token

    def _read(self, after: str | None) -> None:
        pending = Pending(after)
        try:
            for got in self.stream.messages(after):
                if got is not None:
                    pending.add(got)
                if got is None or pending.full(self.spec):
                    pending = Pending(self._commit(pending))
        except SluiceError:
            self._commit(pending)  # the messages received before the error
            raise
        self._commit(pending)

    def run(self) -> SyncOutcome:
        """The stream from the lake's token to its end (see the module doc).

        Raises:
            SourceUnreachableError: the call kept failing; what was received before is committed.
            SourceError: the server refused the call, or other runs kept moving the token.
            ConfigError: the request does not fit the method.
        """
        after = self.sink.token()
        for _ in range(STALE_RESTARTS):
            try:
                self._read(after)
            except _Restart as restart:
                after = restart.token
                continue
            finally:
                self.stream.close()
            self.result.complete = True
            return self.result
        raise SourceError(
            f"gRPC {self.spec.name}: other runs kept committing the stream before this one",
            hint="run one sync of a stream at a time (a schedule with a concurrency limit of 1)",
        )
