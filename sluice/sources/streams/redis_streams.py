"""Redis Streams through redis-py: a consumer group, XACK only after the lake commit, XAUTOCLAIM to take over.

An entry's fields hold the message: ``value`` its bytes, ``key`` its key
(optional), every other field a header; its id is its position and its
timestamp. The group is created at the stream's start when missing.

Entries reach the lake in id order, which is what lets the lake's last id
stand for everything before it. So each poll reads, first, this consumer's
own pending entries (delivered before a restart under the same name), then
entries other consumers left pending for ``claim_idle_ms`` or longer
(``XAUTOCLAIM``: a dead consumer's), and only when no other consumer holds
pending entries, new ones (``XREADGROUP >``). Entries at or below the lake's
id are acknowledged without being written (:mod:`sluice.sources.streams.sink`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis

from sluice.sources.streams.base import BatchLimits, Message, Offset, StreamBatch
from sluice.sources.streams.errors import StreamError, StreamUnreachableError
from sluice.sources.streams.totals import SpanCount, delivered, span_start

VALUE_FIELD = b"value"
KEY_FIELD = b"key"
ACK_CHUNK = 1_000


REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
NEW_POLL_S = 0.05
"""How often a consumer waiting for new entries asks again (a script cannot block)."""

# KEYS[1] stream; ARGV group, consumer, count. 0 when another consumer holds pending entries, else what
# XREADGROUP > returns (nil: nothing new).
_READ_NEW = """
local summary = redis.call('XPENDING', KEYS[1], ARGV[1])
local consumers = summary[4]
if consumers then
  for _, c in ipairs(consumers) do
    if c[1] ~= ARGV[2] and tonumber(c[2]) > 0 then return 0 end
  end
end
return redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
"""


# KEYS[1] stream; ARGV from (inclusive, or exclusive as "(id"), to: the entries between, counted in the server
# a thousand at a time (nothing crosses the network but the count).
_COUNT = """
local n, from = 0, ARGV[1]
while true do
  local got = redis.call('XRANGE', KEYS[1], from, ARGV[2], 'COUNT', 1000)
  n = n + #got
  if #got < 1000 then return n end
  from = '(' .. got[#got][1]
end
"""


@dataclass(frozen=True)
class RedisConfig:
    """The server, stream, consumer group and this consumer's name; pending entries idle this long are taken over.

    ``timeout_s`` bounds connecting and every reply (a blocking read waits less than it), so a server that
    stops answering without closing the connection is an error, never a hang.
    """

    url: str
    stream: str
    group: str
    consumer: str
    claim_idle_ms: int = 30_000
    timeout_s: float = 30.0


def redis_client(url: str, timeout_s: float) -> redis.Redis:
    """A client whose connects and replies time out after ``timeout_s`` (connects after at most 10 s)."""
    return redis.Redis.from_url(url, socket_connect_timeout=min(timeout_s, 10.0), socket_timeout=timeout_s)


def redis_address(url: str) -> str:
    """``host:port`` of a Redis URL, without the password it may carry."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}"


def entry_offset(entry_id: bytes | str) -> Offset:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return Offset.parse(text)


def _message(stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> Message:
    at = entry_offset(entry_id)
    headers = tuple((k.decode("utf-8", "replace"), v) for k, v in fields.items() if k not in (VALUE_FIELD, KEY_FIELD))
    return Message(stream, at, fields.get(KEY_FIELD), fields.get(VALUE_FIELD), headers, at.major)


class _ReadNew:
    """The server-side check-and-read (see the module doc), loaded once per client."""

    def __init__(self, client: redis.Redis) -> None:
        self._script = client.register_script(_READ_NEW)

    def __call__(self, stream: str, group: str, consumer: str, count: int) -> Any:
        """0, None, or XREADGROUP's reply shaped as redis-py shapes it (a script's reply is not parsed)."""
        reply: Any = self._script(keys=[stream], args=[group, consumer, count])
        if not reply:
            return reply
        return [[key, [(entry_id, _pairs(flat)) for entry_id, flat in entries]] for key, entries in reply]


def _pairs(flat: list[bytes] | None) -> dict[bytes, bytes] | None:
    return None if flat is None else dict(zip(flat[::2], flat[1::2], strict=True))


class RedisSource:
    """A consumer of one stream in a consumer group (see the module doc)."""

    def __init__(self, config: RedisConfig, client: redis.Redis | None = None) -> None:
        self.config = config
        self._client = client or redis_client(config.url, config.timeout_s)
        self._history: str | None = "0"  # own pending entries first, then new ones
        self._paused = False
        self._read_new = _ReadNew(self._client)
        self._count = self._client.register_script(_COUNT)
        try:
            self._client.xgroup_create(config.stream, config.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise StreamError(f"cannot create group {config.group}: {exc}", hint="check the stream key") from None
        except REDIS_ERRORS as exc:
            raise StreamUnreachableError(
                f"Redis at {redis_address(config.url)}: {exc or type(exc).__name__}", hint="check the server is up"
            ) from None

    @property
    def name(self) -> str:
        return f"redis:{self.config.stream}"

    def _entries(self, found: Any) -> list[Message]:
        out = []
        for entry_id, fields in found:
            if fields is not None:  # None: an entry trimmed away while pending
                out.append(_message(self.config.stream, entry_id, fields))
        return out

    def _own_pending(self, count: int) -> list[Message] | None:
        if self._history is None:
            return None
        reply: Any = self._client.xreadgroup(
            self.config.group, self.config.consumer, {self.config.stream: self._history}, count=count
        )
        raw = reply[0][1] if reply else []
        if not raw:
            self._history = None
            return None
        self._history = (raw[-1][0]).decode()
        trimmed = [e for e, f in raw if not f]
        if trimmed:
            self._client.xack(self.config.stream, self.config.group, *trimmed)
        return self._entries(raw)

    def _claimed(self, count: int) -> list[Message]:
        claimed: Any = self._client.xautoclaim(
            self.config.stream,
            self.config.group,
            self.config.consumer,
            min_idle_time=self.config.claim_idle_ms,
            start_id="0-0",
            count=count,
        )
        raw, deleted = claimed[1], claimed[2]
        if deleted:
            self._client.xack(self.config.stream, self.config.group, *deleted)
        return self._entries(raw)

    def _read(self, limits: BatchLimits) -> list[Message]:
        count = limits.max_records
        own = self._own_pending(count)
        if own is not None:
            return own
        deadline = time.monotonic() + min(limits.max_wait_s, self.config.timeout_s / 2)
        while True:
            reply: Any = self._read_new(self.config.stream, self.config.group, self.config.consumer, count)
            if reply == 0:  # another consumer holds pending entries
                claimed = self._claimed(count)
                if not claimed:  # not idle long enough to take over: wait, keep the order
                    time.sleep(min(limits.max_wait_s, 0.1))
                return claimed
            if reply or time.monotonic() >= deadline:
                return self._entries(reply[0][1]) if reply else []
            time.sleep(NEW_POLL_S)

    def poll(self, limits: BatchLimits) -> StreamBatch:
        if self._paused:
            time.sleep(min(limits.max_wait_s, 0.1))
            return StreamBatch()
        try:
            found = self._read(limits)
        except REDIS_ERRORS as exc:
            raise StreamUnreachableError(
                f"Redis at {redis_address(self.config.url)}: {exc or type(exc).__name__}",
                hint="check the server is up",
            ) from None
        batch, size = StreamBatch(), 0
        for message in found:
            if batch.messages and size + message.size > limits.max_bytes:
                break  # delivered and pending: read again as own pending entries
            batch.messages.append(message)
            size += message.size
        if len(batch) < len(found):
            self._history = batch.messages[-1].offset.text()  # the rest: own pending entries after it
        return batch

    def account(self, batch: StreamBatch, held: dict[str, Offset]) -> list[SpanCount]:
        """The stream's entries between the lake's last id (or the batch's first) and the batch's last.

        Entries deleted inside the span (``XDEL``, ``XTRIM``: ``max-deleted-entry-id`` at or past its start)
        make the count not comparable: a deletion after the read would hide a loss.
        """
        counts = delivered(batch)
        out = []
        for name, span in batch.ranges.items():
            after = span_start(name, span.first, held)
            first = span.first if after is None else Offset(after.major, after.minor + 1)  # the next id after it
            lo, hi = f"{first.major}-{first.minor}", f"{span.last.major}-{span.last.minor}"
            try:
                sent: int | None = int(self._count(keys=[name], args=[lo, hi]))
                info: Any = self._client.xinfo_stream(name)
            except REDIS_ERRORS as exc:
                raise StreamUnreachableError(
                    f"Redis at {redis_address(self.config.url)}: {exc or type(exc).__name__}",
                    hint="check the server is up; the batch is not committed and is read again",
                ) from None
            deleted = entry_offset(info.get("max-deleted-entry-id") or b"0-0")
            basis = f"XRANGE {lo} {hi}: {sent:,} entries"
            if deleted >= first and deleted != Offset(0):
                sent, basis = None, f"entries were deleted inside the span (max-deleted-entry-id {deleted.text()})"
            out.append(SpanCount(name, first, span.last, counts[name], sent, basis))
        return out

    def acknowledge(self, batch: StreamBatch) -> None:
        ids = [f"{m.offset.major}-{m.offset.minor}" for m in batch.messages]
        try:
            for i in range(0, len(ids), ACK_CHUNK):
                self._client.xack(self.config.stream, self.config.group, *ids[i : i + ACK_CHUNK])
        except REDIS_ERRORS as exc:  # the entries stay pending: read again, and skipped by position
            raise StreamUnreachableError(
                f"Redis at {redis_address(self.config.url)}: {exc} (a committed batch is not acknowledged yet)",
                hint="check the server is up; the entries stay pending and the lake skips them by position",
            ) from None

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def paused_partitions(self) -> list[str]:
        return [self.config.stream] if self._paused else []

    def close(self) -> None:
        self._client.close()
