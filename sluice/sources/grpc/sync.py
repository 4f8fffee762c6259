"""A gRPC stream synced into its dataset: from the token the lake holds to the end of the stream.

:meth:`StreamSync.run` reads the resume token of the newest commit
(:mod:`sluice.sources.grpc.sink`), opens the stream after it, and gathers
messages into batches: a batch is committed, with the token of its last
message, once it holds ``batching.records`` messages or ``batching.bytes``
bytes, once it is ``batching.seconds`` old (checked as messages arrive), when
the call is reopened after a failure, and when the stream ends. An error that
ends the run commits the batch under way first. A run killed at any point
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
    """Messages received since the last commit, after the token ``after``."""

    after: str | None
    received: list[Received] = field(default_factory=list)
    size: int = 0
    started: float = field(default_factory=time.monotonic)
    token: str | None = None  # the last token among them

    def add(self, got: Received) -> None:
        self.received.append(got)
        self.size += len(got.raw)
        self.token = got.token or self.token

    def full(self, spec: GrpcSpec) -> bool:
        bounds = spec.batching
        return (
            len(self.received) >= bounds.records
            or self.size >= bounds.bytes
            or time.monotonic() - self.started >= bounds.seconds
        )


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
        """Commit ``pending``; the token the next batch starts after."""
        if not pending.received:
            return pending.after
        token = pending.token or pending.after
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
                if pending.received and (got is None or pending.full(self.spec)):
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
