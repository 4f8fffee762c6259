"""Message values into the contract's columns: a raw chunk that :func:`sluice.validate.chunk.validate_chunk` types.

A :class:`Decoder` turns a batch's messages into a :class:`sluice.formats.RawChunk`:
one row per message it can read (every value as its text, typed later like a
file's), and one malformed entry, with its reason, per message it cannot. The
row number of a message is its place in the batch. :class:`JsonDecoder` reads
a JSON object per value; other formats (Avro, Protobuf) plug in as other
decoders.

A value is refused, unparsed, when it is missing (a tombstone), over
``max_record_bytes``, not UTF-8, or nested deeper than
``max_nesting_depth``; then when it is not one JSON object. A message
without a key is refused when the decoder requires keys.

A batch whose every value is a flat JSON object on one line (the common
case) is first read by Arrow with the contract's types
(:meth:`JsonDecoder.decode_typed`, :mod:`sluice.sources.streams.flat`); the
sink keeps that read only when its validation finds nothing to quarantine.
Otherwise the batch is read at once as text: the values joined as JSON Lines, scanned and
rewritten by :mod:`sluice.formats.json_bytes` (every value as its text) and
parsed by Arrow's JSON reader, with no Python work per message. Any doubt
(a nested or malformed value, a refusal, bytes that are not UTF-8) sends the
whole batch through the per-message path, which the result matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from sluice.formats import MalformedRow, RawChunk
from sluice.formats.base import undecodable_row
from sluice.formats.json_bytes import rewrite, scan
from sluice.settings import RecordLimits, get_settings
from sluice.sources.streams.base import Message, keys_of, values_of
from sluice.sources.streams.flat import typed_read, typed_schema
from sluice.validate.contracts import Contract
from sluice.validate.quality import FailureLog, Reason

EXCERPT_BYTES = 1024
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class Decoder(Protocol):
    """Reads a batch's messages into the contract's columns."""

    def decode(self, messages: Sequence[Message], contract: Contract) -> RawChunk: ...


class _Refused(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _excerpt(raw: bytes) -> str:
    return raw[:EXCERPT_BYTES].decode("utf-8", "replace")


def nesting_depth(raw: bytes) -> int:
    """How deep the brackets of a JSON text nest, outside its strings (a flat object is 1)."""
    bare = np.frombuffer(_STRINGS.sub(b'""', raw), dtype=np.uint8)
    steps = (np.isin(bare, (123, 91)).astype(np.int64)) - np.isin(bare, (125, 93)).astype(np.int64)
    return int(np.cumsum(steps).max()) if len(steps) else 0


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _as_text(value: object) -> str | None:
    """A top-level JSON value as the file readers keep it: numbers their literal, nested values their JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class JsonDecoder:
    """One JSON object per message value; ``key_column`` and ``timestamp_column`` take the key and broker time.

    ``require_key``: a message without a key is quarantined (keyed topics).
    """

    require_key: bool = False
    key_column: str | None = None
    timestamp_column: str | None = None
    limits: RecordLimits = field(default_factory=lambda: get_settings().record_limits())

    def _object(self, message: Message) -> dict[str, object]:
        if self.require_key and message.key is None:
            raise _Refused(Reason.MALFORMED_ROW, "the message has no key; this source requires one")
        raw = message.value
        if raw is None:
            raise _Refused(Reason.MALFORMED_ROW, "the message has no value (a tombstone)")
        if len(raw) > self.limits.max_record_bytes:
            raise _Refused(
                Reason.RECORD_TOO_LARGE,
                f"value is {len(raw):,} bytes; the limit is {self.limits.max_record_bytes:,} (SLUICE_MAX_RECORD_BYTES)",
            )
        depth = nesting_depth(raw)
        if depth > self.limits.max_nesting_depth:
            raise _Refused(
                Reason.TOO_DEEPLY_NESTED,
                f"nested {depth} levels deep; the limit is {self.limits.max_nesting_depth} (SLUICE_MAX_NESTING_DEPTH)",
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Refused(Reason.UNDECODABLE_BYTES, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
        try:
            found = json.loads(text, parse_int=str, parse_float=str, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise _Refused(Reason.MALFORMED_JSON, f"not JSON: {exc}") from None
        if not isinstance(found, dict):
            raise _Refused(Reason.MALFORMED_JSON, f"a JSON {type(found).__name__}, not an object")
        if b"\\u" in raw:  # an escape may name half of a surrogate pair, which is no Unicode text
            try:
                json.dumps(found, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as exc:
                detail = f"not Unicode text: a lone surrogate escape ({exc.reason})"
                raise _Refused(Reason.MALFORMED_JSON, detail) from None
        return found

    def _row(self, message: Message, found: dict[str, object], names: list[str]) -> list[str | None]:
        row = [_as_text(_at(found, n)) for n in names]
        if self.key_column in names and message.key is not None:
            row[names.index(self.key_column)] = message.key.decode("utf-8", "replace")
        if self.timestamp_column in names and message.timestamp_ms is not None:
            at = datetime.fromtimestamp(message.timestamp_ms / 1000, timezone.utc)
            row[names.index(self.timestamp_column)] = at.isoformat()
        return row

    def _joined(self, messages: Sequence[Message], field_limit: int | None = None) -> bytes | None:
        """The batch's values as JSON Lines, or ``None`` when a message needs a closer look (see the module doc).

        ``field_limit``: also ``None`` when a value is longer (no field of a shorter value can be over it).
        """
        values = values_of(messages)
        keyed = not self.require_key or None not in keys_of(messages)
        if not values or not keyed or self.limits.max_nesting_depth < 1 or None in values:
            return None
        longest = max(map(len, values))  # type: ignore[arg-type]  # None ruled out
        if longest > self.limits.max_record_bytes or (field_limit is not None and longest > field_limit):
            return None
        block = b"\n".join(values)  # type: ignore[arg-type]
        if block.count(b"\n") != len(values) - 1 or b"\r" in block:  # a value holding a line break
            return None
        if not block.isascii():  # ASCII is UTF-8: only other bytes need the decode
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                return None
        return block

    def decode_typed(self, messages: Sequence[Message], contract: Contract) -> RawChunk | None:
        """The batch read by Arrow with the contract's types (:mod:`sluice.sources.streams.flat`), or ``None``.

        A typed chunk keeps no original text: use it only when its validation quarantines and warns of nothing.
        """
        if contract.explode:
            return None
        schema = typed_schema(contract, {n for n in (self.key_column, self.timestamp_column) if n})
        block = None if schema is None else self._joined(messages, get_settings().max_field_bytes)
        if block is None or schema is None:
            return None
        values: list[bytes] = values_of(messages)  # type: ignore[assignment]  # _joined ruled out None
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        table = typed_read(block, lengths, schema)
        if table is None:
            return None
        return RawChunk(self._broker_columns(table, messages), np.arange(len(messages), dtype=np.int64), [])

    def _whole(self, messages: Sequence[Message], names: list[str]) -> RawChunk | None:
        """The batch read at once as text (see the module doc), or ``None`` when any message needs a closer look."""
        block = self._joined(messages)
        if block is None:
            return None
        values = values_of(messages)
        found = scan(block)
        if len(found.starts) != len(values) or not (found.plain.all() and (found.depth == 1).all()):
            return None
        text, odd = rewrite(block, found)
        if odd.any():
            return None
        schema = pa.schema([(n, pa.string()) for n in names])
        try:
            table = pj.read_json(
                pa.BufferReader(text),
                read_options=pj.ReadOptions(block_size=len(text) + 1),
                parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        if table.num_rows != len(values):
            return None
        return RawChunk(
            self._broker_columns(table.combine_chunks(), messages), np.arange(len(values), dtype=np.int64), []
        )

    def _broker_columns(self, table: pa.Table, messages: Sequence[Message]) -> pa.Table:
        """``key_column`` and ``timestamp_column`` filled from the messages, as the per-message path does."""
        names = table.column_names
        if self.key_column in names:
            keys = [None if m.key is None else m.key.decode("utf-8", "replace") for m in messages]
            own = table.column(self.key_column).to_pylist()
            merged = [k if k is not None else o for k, o in zip(keys, own, strict=True)]
            table = table.set_column(names.index(self.key_column), self.key_column, pa.array(merged, pa.string()))
        if self.timestamp_column in names:
            stamps = [
                None
                if m.timestamp_ms is None
                else datetime.fromtimestamp(m.timestamp_ms / 1000, timezone.utc).isoformat()
                for m in messages
            ]
            own = table.column(self.timestamp_column).to_pylist()
            merged = [t if t is not None else o for t, o in zip(stamps, own, strict=True)]
            col = pa.array(merged, pa.string())
            table = table.set_column(names.index(self.timestamp_column), self.timestamp_column, col)
        return table

    def decode(self, messages: Sequence[Message], contract: Contract) -> RawChunk:
        names = [*contract.column_names, *contract.explode]  # an exploded array arrives as its JSON text
        whole = self._whole(messages, names)
        return whole if whole is not None else self.decode_each(messages, contract)

    def decode_each(self, messages: Sequence[Message], contract: Contract) -> RawChunk:
        """The per-message path: each value checked and parsed on its own (what a doubted batch takes)."""
        names = [*contract.column_names, *contract.explode]
        rows: list[list[str | None]] = []
        numbers: list[int] = []
        malformed: list[MalformedRow] = []
        lists: list[list[bool]] = []
        for i, message in enumerate(messages):
            try:
                found = self._object(message)
            except _Refused as refused:
                raw = message.value or b""
                if refused.reason is Reason.UNDECODABLE_BYTES:
                    malformed.append(undecodable_row(i, raw[:EXCERPT_BYTES], refused.detail))
                else:
                    malformed.append(MalformedRow(i, _excerpt(raw), refused.reason, refused.detail))
                continue
            rows.append(self._row(message, found, names))
            lists.append([isinstance(_at(found, key), list) for key in contract.explode])
            numbers.append(i)
        columns = {n: pa.array([r[j] for r in rows], pa.string()) for j, n in enumerate(names)}
        failures = FailureLog()
        for j, key in enumerate(contract.explode):
            columns[key] = _arrays_only(columns[key], np.array([r[j] for r in lists], dtype=bool), key, failures)
        return RawChunk(pa.table(columns), np.asarray(numbers, dtype=np.int64), malformed, failures)


def _at(found: dict[str, object], name: str) -> object:
    """A top-level key's value; a dotted name (an exploded array's key) is followed through objects."""
    if name in found or "." not in name:
        return found.get(name)
    value: object = found
    for key in name.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _arrays_only(texts: pa.Array, arrays: np.ndarray, key: str, log: FailureLog) -> pa.Array:
    """An exploded array's JSON text (rows where ``arrays``); any other value fails its row (``wrong_shape``)."""
    other = pc.is_valid(texts).to_numpy(zero_copy_only=False) & ~arrays
    if other.any():
        rows = np.flatnonzero(other)
        values = [texts[int(i)].as_py() for i in rows]
        check = "shape: array to explode, found another value"
        log.add(rows, column=key, reason=Reason.WRONG_SHAPE, check=check, values=values, critical=True)
    return pc.if_else(pa.array(arrays, pa.bool_()), texts, pa.scalar(None, pa.string()))
