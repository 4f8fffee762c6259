"""The stream-source interface: micro-batches of messages with their positions, acknowledged after the commit.

A position is where a message sits in its partition: a Kafka offset, or a
Redis Streams entry id (``<ms>-<seq>``). Both order as a pair of integers
(:class:`Offset`). A partition is named by its source: ``<topic>/<n>`` for
Kafka, the stream key for Redis.

A queue (RabbitMQ) has no replayable positions: its messages carry an
``ident`` instead (the producer's message id, or a hash of the body), and
``redelivered`` when the broker may have delivered them before. The lake
deduplicates such batches by ident (:mod:`sluice.sources.streams.delivered`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, overload

import numpy as np

from sluice.errors import ConfigError

# Every consumer that dies holding a message counts a delivery, a whole prefetch window at a time: a crash loop
# of the consumer itself must not send healthy messages to the dead letters, a message that kills every consumer must.
MAX_DELIVERIES = 20


@dataclass(frozen=True, order=True)
class Offset:
    """A position in a partition: a Kafka offset (``minor`` 0) or a Redis entry id ``major-minor``."""

    major: int
    minor: int = 0

    @classmethod
    def parse(cls, text: str) -> Offset:
        """``"41"`` or ``"1700000000000-3"``.

        Raises:
            ConfigError: ``text`` is neither.
        """
        head, _, tail = text.partition("-")
        if not head.isdigit() or (tail and not tail.isdigit()):
            raise ConfigError(f"{text!r} is not a stream position", hint="a position is 41 or 1700000000000-3")
        return cls(int(head), int(tail or 0))

    def text(self) -> str:
        """``"41"``, or ``"1700000000000-3"`` (an entry id whose sequence is 0 reads as its milliseconds)."""
        return f"{self.major}-{self.minor}" if self.minor else str(self.major)


@dataclass(frozen=True)
class Message:
    """One message: where it sits, its key, value bytes, headers and broker timestamp (ms since the epoch).

    ``ident`` and ``redelivered`` are set by queue sources only (see the module doc).
    """

    partition: str
    offset: Offset
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None
    ident: str | None = None
    redelivered: bool = False

    @property
    def size(self) -> int:
        """Bytes the message holds (key, value and headers): what the byte bound counts."""
        heads = sum(len(k) + len(v) for k, v in self.headers) if self.headers else 0
        return len(self.key or b"") + len(self.value or b"") + heads


@dataclass(frozen=True)
class Range:
    """The first and last position of a batch's messages in one partition."""

    first: Offset
    last: Offset


def _span(first: int, last: int) -> Range:
    return Range(Offset(first), Offset(last))


@dataclass(frozen=True, eq=False)
class MessageColumns(Sequence[Message]):
    """Kafka messages as columns, one entry per message; items are :class:`Message` views built on demand.

    ``part`` indexes ``names`` (each message's partition); ``stamps`` holds the
    broker timestamp in ms, -1 where none; ``headers`` is ``None`` when no
    message has any; ``sizes`` is what :attr:`Message.size` counts.
    """

    names: tuple[str, ...]
    part: np.ndarray
    offsets: np.ndarray
    keys: list[bytes | None]
    values: list[bytes | None]
    stamps: np.ndarray
    headers: list[tuple[tuple[str, bytes], ...]] | None
    sizes: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, index: int) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> MessageColumns: ...

    def __getitem__(self, index: int | slice) -> Message | MessageColumns:
        if isinstance(index, slice):
            return self.take(np.arange(len(self))[index])
        stamp = int(self.stamps[index])
        return Message(
            partition=self.names[self.part[index]],
            offset=Offset(int(self.offsets[index])),
            key=self.keys[index],
            value=self.values[index],
            headers=self.headers[index] if self.headers is not None else (),
            timestamp_ms=stamp if stamp >= 0 else None,
        )

    def __iter__(self) -> Iterator[Message]:
        return (self[i] for i in range(len(self)))

    def take(self, rows: np.ndarray) -> MessageColumns:
        """The messages at ``rows`` (positions in this sequence), in that order."""
        keys, values = self.keys, self.values
        return MessageColumns(
            self.names,
            self.part[rows],
            self.offsets[rows],
            [keys[i] for i in rows.tolist()],
            [values[i] for i in rows.tolist()],
            self.stamps[rows],
            None if self.headers is None else [self.headers[i] for i in rows.tolist()],
            self.sizes[rows],
        )

    @classmethod
    def concat(cls, chunks: list[MessageColumns]) -> MessageColumns:
        """The chunks one after the other (at least one)."""
        if len(chunks) == 1:
            return chunks[0]
        names = tuple(sorted({n for c in chunks for n in c.names}))
        place = {n: i for i, n in enumerate(names)}
        parts = [np.asarray([place[n] for n in c.names], dtype=np.int64)[c.part] for c in chunks]
        plain = all(c.headers is None for c in chunks)
        return cls(
            names,
            np.concatenate(parts),
            np.concatenate([c.offsets for c in chunks]),
            [k for c in chunks for k in c.keys],
            [v for c in chunks for v in c.values],
            np.concatenate([c.stamps for c in chunks]),
            None if plain else [h for c in chunks for h in (c.headers or [()] * len(c))],
            np.concatenate([c.sizes for c in chunks]),
        )

    def ranges(self) -> dict[str, Range]:
        """The first and last offset per partition, from the columns' minima and maxima."""
        out: dict[str, Range] = {}
        for i, name in enumerate(self.names):
            mine = self.offsets[self.part == i]
            if len(mine):
                out[name] = _span(int(mine.min()), int(mine.max()))
        return out


class StreamBatch:
    """A micro-batch: its messages in the order read, and the range of positions per partition.

    A batch holds a list of :class:`Message` (Redis, RabbitMQ) or, from Kafka,
    :class:`MessageColumns` (``columns``); ``messages`` is then materialised on
    first use, and :attr:`view` reads the columns without materialising them.
    ``fetched_ns`` is when the poll that read it started and ended (``time.time_ns()``; 0: not recorded).
    """

    def __init__(
        self,
        messages: list[Message] | None = None,
        fetched_ns: tuple[int, int] = (0, 0),
        *,
        columns: MessageColumns | None = None,
    ) -> None:
        self._messages = messages if messages is not None else ([] if columns is None else None)
        self.columns = columns
        self.fetched_ns = fetched_ns

    @property
    def messages(self) -> list[Message]:
        if self._messages is None:
            self._messages = list(self.columns or ())
        return self._messages

    @property
    def view(self) -> Sequence[Message]:
        """The messages, as columns where the batch has them (nothing materialised)."""
        return self.columns if self.columns is not None else self.messages

    @property
    def ranges(self) -> dict[str, Range]:
        if self.columns is not None:
            return self.columns.ranges()
        spans: dict[str, list[tuple[int, int]]] = {}
        for m in self.messages:
            at = (m.offset.major, m.offset.minor)
            seen = spans.get(m.partition)
            if seen is None:
                spans[m.partition] = [at, at]
            elif at > seen[1]:
                seen[1] = at
            elif at < seen[0]:
                seen[0] = at
        return {p: Range(Offset(*first), Offset(*last)) for p, (first, last) in spans.items()}

    @property
    def size(self) -> int:
        if self.columns is not None:
            return int(self.columns.sizes.sum())
        return sum(m.size for m in self.messages)

    @property
    def by_ident(self) -> bool:
        """Whether the batch comes from a queue: its messages deduplicate by ident, not by position."""
        if self.columns is not None:
            return False
        return bool(self.messages) and all(m.ident is not None for m in self.messages)

    def partitions(self) -> set[str]:
        """The partitions the batch's messages come from."""
        if self.columns is not None:
            return {self.columns.names[i] for i in np.unique(self.columns.part).tolist()}
        return {m.partition for m in self.messages}

    def headers(self) -> Iterable[tuple[tuple[str, bytes], ...]]:
        """Each message's headers, in order."""
        if self.columns is not None:
            return self.columns.headers or ()
        return (m.headers for m in self.messages)

    def __len__(self) -> int:
        return len(self.columns) if self.columns is not None else len(self.messages)


def values_of(messages: Sequence[Message]) -> list[bytes | None]:
    """Each message's value, read from the columns where ``messages`` has them."""
    return messages.values if isinstance(messages, MessageColumns) else [m.value for m in messages]


def keys_of(messages: Sequence[Message]) -> list[bytes | None]:
    """Each message's key, read from the columns where ``messages`` has them."""
    return messages.keys if isinstance(messages, MessageColumns) else [m.key for m in messages]


def stamps_of(messages: Sequence[Message]) -> np.ndarray:
    """Each message's broker timestamp in ms (int64), -1 where it has none."""
    if isinstance(messages, MessageColumns):
        return messages.stamps
    found = [-1 if m.timestamp_ms is None else m.timestamp_ms for m in messages]
    return np.asarray(found, dtype=np.int64)


@dataclass(frozen=True)
class BatchLimits:
    """What bounds one micro-batch: records, bytes (keys, values and headers) and the wait for the first one."""

    max_records: int = 10_000
    max_bytes: int = 16 * 1024 * 1024
    max_wait_s: float = 1.0

    def __post_init__(self) -> None:
        ensure_positive(self.max_records, "max_records")
        ensure_positive(self.max_bytes, "max_bytes")
        if self.max_wait_s < 0:
            raise ConfigError(f"max_wait_s is {self.max_wait_s}", hint="wait 0 seconds or more for a batch")


def ensure_positive(value: int, name: str) -> None:
    """Raise unless ``value`` is at least 1."""
    if value < 1:
        raise ConfigError(f"{name} is {value}", hint=f"set {name} to 1 or more")


class HeldPositions(Protocol):
    """The last position per partition the lake holds for a source (a partition absent: none)."""

    def __call__(self) -> dict[str, Offset]: ...


class StreamSource(Protocol):
    """What the consume loop needs of a broker.

    ``poll`` returns at most ``limits.max_records`` messages and about
    ``limits.max_bytes`` (a message is never split), waiting at most
    ``limits.max_wait_s`` for the first; while paused it returns none.
    ``acknowledge`` tells the broker a batch is in the lake (Kafka commits the
    offsets after each partition's last; Redis XACKs the entries). The source
    starts from the lake's positions (``held``, given at construction): the
    broker's own offsets may be behind them after a crash.
    """

    @property
    def name(self) -> str:
        """The source as batch ids and commit metadata name it: ``kafka:<group>/<topic>``, ``redis:...``."""
        ...

    def poll(self, limits: BatchLimits) -> StreamBatch: ...

    def acknowledge(self, batch: StreamBatch) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def paused_partitions(self) -> list[str]:
        """The partitions (stream, queue) this consumer holds paused now; none while it runs."""
        ...

    def close(self) -> None: ...
