"""The bounded buffer between the broker and the lake, and the fetcher that fills it.

The fetcher thread polls micro-batches into the buffer. When the buffer holds
``max_records`` messages or ``max_bytes`` bytes, the fetcher stops polling and
waits for room. A writer that takes a batch within ``pause_after_s`` makes room
and the fetcher polls on: the broker client's own prefetch stays bounded
meanwhile (librdkafka's ``queued.max.messages.kbytes``, RabbitMQ's prefetch
count; Redis reads nothing it is not asked for). A buffer still full after
that pauses the source (Kafka ``pause``: no more fetching, the prefetched
messages dropped; Redis: no more ``XREADGROUP``) and the fetcher goes on
polling only to keep its group membership; once the writer has taken the
buffer below half of both bounds it resumes. The buffer therefore never holds
more than its bounds plus one batch, however much faster the stream is than
the lake. The grace spares a lake that keeps pace in bursts a pause's cost: a
resumed Kafka consumer fetches its partitions again, which takes a few
hundred milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sluice.errors import ConfigError
from sluice.sources.streams.base import BatchLimits, StreamBatch, StreamSource, ensure_positive


@dataclass(frozen=True)
class BufferLimits:
    """How much the buffer holds before the fetcher pauses the source."""

    max_records: int = 50_000
    max_bytes: int = 64 * 1024 * 1024
    pause_after_s: float = 2.0  # a buffer full this long pauses the source (0: as soon as it is full)

    def __post_init__(self) -> None:
        ensure_positive(self.max_records, "buffer max_records")
        ensure_positive(self.max_bytes, "buffer max_bytes")
        if not self.pause_after_s >= 0:  # also NaN
            raise ConfigError(f"buffer pause_after_s is {self.pause_after_s}", hint="set 0 (pause at once) or more")


class BoundedBuffer:
    """Batches waiting for the lake, counted in messages and bytes."""

    def __init__(self, limits: BufferLimits) -> None:
        self.limits = limits
        self._batches: deque[tuple[StreamBatch, int]] = deque()
        self._records = 0
        self._bytes = 0
        self._ready = threading.Condition()
        self.pauses = 0  # times the fetcher paused the source because the buffer was full

    @property
    def records(self) -> int:
        return self._records

    @property
    def bytes(self) -> int:
        return self._bytes

    def full(self) -> bool:
        return self._records >= self.limits.max_records or self._bytes >= self.limits.max_bytes

    def drained(self) -> bool:
        """Below half of both bounds: the fetcher may resume."""
        return self._records <= self.limits.max_records // 2 and self._bytes <= self.limits.max_bytes // 2

    def put(self, batch: StreamBatch) -> None:
        size = batch.size
        with self._ready:
            self._batches.append((batch, size))
            self._records += len(batch)
            self._bytes += size
            self._ready.notify_all()

    def take(self, timeout_s: float) -> StreamBatch | None:
        """The oldest batch, waiting up to ``timeout_s`` for one (``None``: none came)."""
        with self._ready:
            if not self._batches and not self._ready.wait_for(lambda: bool(self._batches), timeout_s):
                return None
            batch, size = self._batches.popleft()
            self._records -= len(batch)
            self._bytes -= size
            self._ready.notify_all()
            return batch

    def wait_for_room(self, timeout_s: float) -> None:
        with self._ready:
            self._ready.wait_for(self.drained, timeout_s)

    def wait_not_full(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the writer to take the buffer below its bounds; whether it did."""
        with self._ready:
            return self._ready.wait_for(lambda: not self.full(), timeout_s)


class Fetcher(threading.Thread):
    """Polls ``source`` into ``buffer`` until stopped, pausing the source while the buffer is full."""

    def __init__(
        self,
        source: StreamSource,
        buffer: BoundedBuffer,
        limits: BatchLimits,
        on_pause: Callable[[list[str], bool], None] | None = None,
    ) -> None:
        super().__init__(name="stream-fetcher", daemon=True)
        self.source, self.buffer, self.limits = source, buffer, limits
        self.on_pause = on_pause  # told the partitions the source pauses (True) or resumes (False)
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.paused = False
        self.last_message_at: float | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self._step()
        except BaseException as exc:  # noqa: BLE001 - handed to the writer, which raises it
            self.error = exc

    def _step(self) -> None:
        if self.buffer.full() and not self.paused and not self.buffer.wait_not_full(self.buffer.limits.pause_after_s):
            self.source.pause()
            self.paused = True
            self.buffer.pauses += 1
            self.tell(self.source.paused_partitions(), True)
        elif self.paused and self.buffer.drained():
            held = self.source.paused_partitions()
            self.source.resume()
            self.paused = False
            self.tell(held, False)
        if self.paused:
            self.buffer.wait_for_room(min(self.limits.max_wait_s, 0.2))
        started = time.time_ns()
        batch = self.source.poll(self.limits)  # while paused: keeps the group membership, returns nothing
        if len(batch):
            batch.fetched_ns = (started, time.time_ns())
            self.buffer.put(batch)

    def tell(self, partitions: list[str], paused: bool) -> None:
        if self.on_pause is not None and partitions:
            self.on_pause(partitions, paused)

    def stop(self) -> None:
        self.stopping.set()
        self.join()
