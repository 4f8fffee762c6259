"""What the metrics store holds: samples, series, selectors and series summaries.

A series is a metric name plus a set of labels (``dataset``, ``flow``,
``deployment``, ``environment``, ``host``, ``worker``). Its label set is stored
as a stable key, :func:`labels_key`, so that equal label sets always compare
equal as strings. Timestamps are UTC; in :class:`Series` they are int64
nanoseconds since the epoch, so that whole series move as numpy arrays.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Literal

import numpy as np

from ops.metrics.errors import SelectorError

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
NAME_LABEL = "__name__"
"""The pseudo-label that matches the metric name, as in PromQL."""
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def labels_key(labels: Mapping[str, str]) -> str:
    """The stable string form of a label set: compact JSON with sorted keys."""
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def labels_from_key(key: str) -> dict[str, str]:
    """The label set whose :func:`labels_key` is ``key``."""
    labels: dict[str, str] = json.loads(key)
    return labels


def ensure_metric_name(name: str) -> str:
    """Return ``name`` if it is a valid metric name, else raise ``SelectorError``."""
    if not METRIC_NAME.fullmatch(name):
        raise SelectorError(
            f"invalid metric name {name!r}",
            hint="metric names are letters, digits, '_' and ':', not starting with a digit",
        )
    return name


def utc(ts: datetime) -> datetime:
    """``ts`` as an aware UTC datetime; a naive one is taken to be UTC already."""
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def to_ns(ts: datetime) -> int:
    """Nanoseconds since the epoch of ``ts`` (microsecond precision, as ``datetime`` has)."""
    delta = utc(ts) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def from_ns(ns: int) -> datetime:
    """The aware UTC datetime of ``ns`` nanoseconds since the epoch (truncated to microseconds)."""
    return EPOCH + timedelta(microseconds=ns // 1_000)


@dataclass(frozen=True)
class Sample:
    """One value of one series at one instant."""

    metric: str
    labels: dict[str, str]
    ts: datetime
    value: float

    def __post_init__(self) -> None:
        ensure_metric_name(self.metric)
        object.__setattr__(self, "ts", utc(self.ts))
        object.__setattr__(self, "value", float(self.value))


@dataclass(eq=False)
class Series:
    """The points of one series, oldest first, as numpy arrays.

    ``timestamps`` are int64 nanoseconds since the epoch (UTC); a datetime64 array (read as UTC)
    is converted on construction. ``values`` are float64.
    """

    metric: str
    labels: dict[str, str]
    timestamps: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        stamps = np.asarray(self.timestamps)
        if stamps.dtype.kind == "M":
            stamps = stamps.astype("datetime64[ns]").view("int64")
        self.timestamps = stamps.astype("int64", copy=False)
        self.values = np.asarray(self.values, dtype="float64")
        if self.timestamps.shape != self.values.shape:
            raise ValueError(f"{len(self.timestamps)} timestamps but {len(self.values)} values")

    def __len__(self) -> int:
        return len(self.values)

    @property
    def key(self) -> str:
        return labels_key(self.labels)

    def iso_times(self) -> list[str]:
        """The timestamps in ISO 8601 with a ``+00:00`` offset, to the second when that loses nothing."""
        unit: Literal["s", "ms", "us"] = "us"
        if not (self.timestamps % 1_000_000).any():
            unit = "ms" if (self.timestamps % 1_000_000_000).any() else "s"
        text: list[str] = np.datetime_as_string(self.timestamps.astype("datetime64[ns]"), unit=unit).tolist()
        return [f"{t}+00:00" for t in text]

    def points(self) -> list[tuple[str, float | None]]:
        """``(iso_time, value)`` pairs; NaN becomes None so the result is valid JSON."""
        values = [None if math.isnan(v) else v for v in self.values.tolist()]
        return list(zip(self.iso_times(), values, strict=True))


@dataclass(frozen=True)
class MetricInfo:
    """What the store holds of one series: its points and their time range.

    A backend that cannot tell a figure cheaply leaves it None (Prometheus does
    not report when a series began).
    """

    metric: str
    labels: dict[str, str]
    points: int | None
    first: datetime | None
    last: datetime | None


class MatchOp(enum.StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True)
class Matcher:
    """One label matcher; an absent label matches as the empty string, as in PromQL."""

    label: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        if self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            _ = self._regex  # fail at parse time, not at match time

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        try:
            return re.compile(f"(?s:{self.value})")
        except re.error as exc:
            raise SelectorError(
                f"invalid regular expression {self.value!r} for label {self.label!r}: {exc}",
                hint="regular expressions are anchored at both ends, as in PromQL",
            ) from None

    def matches(self, value: str) -> bool:
        match self.op:
            case MatchOp.EQUAL:
                return value == self.value
            case MatchOp.NOT_EQUAL:
                return value != self.value
            case MatchOp.REGEX:
                return self._regex.fullmatch(value) is not None
            case MatchOp.NOT_REGEX:
                return self._regex.fullmatch(value) is None

    def promql(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.label}{self.op.value}"{escaped}"'


@dataclass(frozen=True)
class Selector:
    """A metric name (optional) and label matchers: ``metric{dataset="orders",host=~"web-.*"}``.

    Example:
        >>> Selector.parse('sluice_rows_read{dataset!="test"}').matches("sluice_rows_read", {"dataset": "orders"})
        True
    """

    metric: str | None = None
    matchers: tuple[Matcher, ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> Selector:
        """Parse a PromQL-style series selector.

        Raises:
            SelectorError: the text is not a selector.
        """
        return _SelectorParser(text).selector()

    def name_matches(self, metric: str) -> bool:
        """Whether ``metric`` passes the metric name and any ``__name__`` matchers."""
        if self.metric is not None and metric != self.metric:
            return False
        return all(m.matches(metric) for m in self.matchers if m.label == NAME_LABEL)

    def matches(self, metric: str, labels: Mapping[str, str]) -> bool:
        """Whether the series ``metric{labels}`` is selected."""
        return self.name_matches(metric) and all(
            m.matches(labels.get(m.label, "")) for m in self.matchers if m.label != NAME_LABEL
        )

    def promql(self) -> str:
        """The selector as PromQL; the empty selector becomes ``{__name__=~".+"}``."""
        matchers = ",".join(m.promql() for m in self.matchers)
        if self.metric is None and not matchers:
            return '{__name__=~".+"}'
        return f"{self.metric or ''}{{{matchers}}}" if matchers else str(self.metric)

    def __str__(self) -> str:
        return self.promql() if self.metric or self.matchers else "{}"


_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}
_OPERATOR = re.compile(r"=~|!~|!=|=")
_STRING = {'"': re.compile(r'"((?:[^"\\\n]|\\.)*)"'), "'": re.compile(r"'((?:[^'\\\n]|\\.)*)'")}


class _SelectorParser:
    """Recursive descent over ``name? ('{' matcher (',' matcher)* ','? '}')?``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, expected: str) -> SelectorError:
        found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
        return SelectorError(f"bad selector {self.text!r}: expected {expected} at position {self.pos}, found {found}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        self.skip_space()
        match = pattern.match(self.text, self.pos)
        if match:
            self.pos = match.end()
        return match

    def take_char(self, char: str) -> bool:
        self.skip_space()
        if self.text.startswith(char, self.pos):
            self.pos += 1
            return True
        return False

    def selector(self) -> Selector:
        if not self.text.strip():
            raise SelectorError("empty selector")
        name = self.take(METRIC_NAME)
        matchers: list[Matcher] = []
        if self.take_char("{"):
            while not self.take_char("}"):
                matchers.append(self.matcher())
                if not self.take_char(","):
                    if not self.take_char("}"):
                        raise self.fail("',' or '}'")
                    break
        self.skip_space()
        if self.pos != len(self.text):
            raise self.fail("'{' or the end" if name else "a metric name or '{'")
        return Selector(name[0] if name else None, tuple(matchers))

    def matcher(self) -> Matcher:
        label = self.take(LABEL_NAME)
        if not label:
            raise self.fail("a label name")
        op = self.take(_OPERATOR)
        if not op:
            raise self.fail("one of =, !=, =~, !~")
        self.skip_space()
        quote = self.text[self.pos : self.pos + 1]
        value = self.take(_STRING[quote]) if quote in _STRING else None
        if not value:
            raise self.fail(f"a quoted value after {label[0]}{op[0]}")
        text = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[0]), value[1])
        return Matcher(label[0], MatchOp(op[0]), text)
