"""The fetcher waits for room before it pauses the source: a lake that keeps pace in bursts is never paused."""

from __future__ import annotations

import threading
import time

import pytest

from sluice.errors import ConfigError
from sluice.sources.streams.base import BatchLimits, Message, Offset, StreamBatch
from sluice.sources.streams.buffer import BoundedBuffer, BufferLimits, Fetcher


class EndlessSource:
    """A stream that always has a batch of ``size`` messages, and counts its pauses and resumes."""

    name = "test:endless"

    def __init__(self, size: int) -> None:
        self.size, self.next, self.pauses, self.resumes, self.paused = size, 0, 0, 0, False
        self.lock = threading.Lock()

    def poll(self, limits: BatchLimits) -> StreamBatch:
        if self.paused:
            time.sleep(0.01)
            return StreamBatch()
        with self.lock:
            first, self.next = self.next, self.next + self.size
        return StreamBatch([Message("p0", Offset(i), None, b"{}") for i in range(first, first + self.size)])

    def acknowledge(self, batch: StreamBatch) -> None:
        pass

    def pause(self) -> None:
        self.paused, self.pauses = True, self.pauses + 1

    def resume(self) -> None:
        self.paused, self.resumes = False, self.resumes + 1

    def paused_partitions(self) -> list[str]:
        return ["p0"] if self.paused else []

    def close(self) -> None:
        pass


def _drain(buffer: BoundedBuffer, every_s: float, batches: int) -> list[int]:
    """Take ``batches`` batches, one each ``every_s``; the first offset of each."""
    taken = []
    for _ in range(batches):
        time.sleep(every_s)
        batch = buffer.take(5.0)
        assert batch is not None, "the fetcher stopped filling the buffer"
        taken.append(batch.messages[0].offset.major)
    return taken


def _run(limits: BufferLimits, every_s: float, batches: int) -> tuple[EndlessSource, list[int], BoundedBuffer]:
    source, buffer = EndlessSource(10), BoundedBuffer(limits)
    fetcher = Fetcher(source, buffer, BatchLimits(max_records=10, max_wait_s=0.05))
    fetcher.start()
    try:
        taken = _drain(buffer, every_s, batches)
    finally:
        fetcher.stop()
    assert fetcher.error is None
    return source, taken, buffer


def test_a_writer_that_makes_room_within_the_grace_is_never_paused_and_nothing_is_skipped() -> None:
    source, taken, buffer = _run(BufferLimits(max_records=30, pause_after_s=1.0), every_s=0.05, batches=12)

    assert source.pauses == 0 and buffer.pauses == 0
    assert taken == list(range(0, 120, 10))  # in order, none lost to a pause
    assert buffer.records <= 30 + 10  # its bounds plus the batch polled when room came


def test_a_buffer_full_longer_than_the_grace_pauses_then_resumes_once_drained() -> None:
    source, taken, buffer = _run(BufferLimits(max_records=30, pause_after_s=0.05), every_s=0.2, batches=6)

    assert source.pauses >= 1 and buffer.pauses == source.pauses and source.resumes >= 1
    assert taken == list(range(0, 60, 10))


@pytest.mark.parametrize("grace", [-1.0, float("nan")])
def test_a_negative_or_missing_grace_is_a_config_error_with_a_hint(grace: float) -> None:
    with pytest.raises(ConfigError, match="pause_after_s") as caught:
        BufferLimits(pause_after_s=grace)
    assert caught.value.hint
