"""Durations (``30s``, ``1h30m``) and time ranges as the ``ops metrics`` commands take them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ops.metrics.errors import DurationError
from ops.metrics.models import utc

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"(?:\d+(?:ms|s|m|h|d|w))+")
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> timedelta:
    """A positive Prometheus-style duration: ``90s``, ``5m``, ``1h30m``, ``2d``, ``1w``.

    Raises:
        DurationError: the text is not such a duration, or it is zero.
    """
    compact = text.strip().lower()
    if not _DURATION.fullmatch(compact):
        raise DurationError(f"invalid duration {text!r}")
    total = sum((int(n) * _UNITS[unit] for n, unit in _PART.findall(compact)), timedelta())
    if total <= timedelta():
        raise DurationError(f"duration {text!r} is zero", hint="give a positive duration such as 1m")
    return total


_ROUNDED = (("d", 86_400), ("h", 3_600), ("m", 60))


def duration_text(seconds: float) -> str:
    """A duration as the options take it (``--before``, ``--since``), rounded up to a whole unit: ``45s``, ``12m``.

    A unit is used from twice its size on (``90s``, ``2m``, ``119m``, ``2h``); at least ``1s``.
    """
    seconds = max(float(seconds), 1.0)
    for unit, size in _ROUNDED:
        if seconds >= 2 * size:
            return f"{math.ceil(seconds / size)}{unit}"
    return f"{math.ceil(seconds)}s"


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC when it has no offset) or ``now``.

    Raises:
        DurationError: the text is not a time.
    """
    if text.strip().lower() == "now":
        return now or datetime.now(timezone.utc)
    try:
        return utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise DurationError(f"invalid time {text!r}") from None


@dataclass(frozen=True)
class TimeRange:
    """A closed interval ``[start, end]`` in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def resolve(
        cls,
        *,
        since: str | None,
        start: str | None,
        end: str | None,
        default_since: timedelta = timedelta(hours=1),
        now: datetime | None = None,
    ) -> TimeRange:
        """The range that ``--since`` or ``--start``/``--end`` describe; by default the last ``default_since``.

        Raises:
            DurationError: a value does not parse, both ``since`` and ``start`` are given, or start > end.
        """
        now = now or datetime.now(timezone.utc)
        if since is not None and start is not None:
            raise DurationError(
                "give either --since or --start, not both",
                hint="--since 1h means from an hour ago until now (or --end)",
            )
        stop = parse_time(end, now=now) if end else now
        if start is not None:
            begin = parse_time(start, now=now)
        else:
            begin = stop - (parse_duration(since) if since else default_since)
        if begin > stop:
            raise DurationError(
                f"the range starts ({begin.isoformat()}) after it ends ({stop.isoformat()})",
                hint="swap --start and --end",
            )
        return cls(begin, stop)
