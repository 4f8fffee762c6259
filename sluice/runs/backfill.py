"""A backfill's plan: one slice of a source per day of a date range, and which of them still need a run.

A file dataset's day is a path: the source template's ``{date}`` field is
replaced by the day, as ISO 8601 (``data/orders/{date}`` gives
``data/orders/2024-03-05``) or with a ``strftime`` format
(``data/orders/{date:%Y/%m/%d}`` gives ``data/orders/2024/03/05``). A day is
done when a completed run of the deployment ingested that very source with
that pattern: a re-run plans only the others.
"""

from __future__ import annotations

import string
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta

from sluice.errors import ConfigError

MAX_DAYS = 3660
"""The longest range one backfill plans (ten years of days)."""
DATE_FIELD = "date"


@dataclass(frozen=True)
class DaySlice:
    """One day of a backfill and the source a run ingests for it."""

    day: date
    source: str
    pattern: str


@dataclass(frozen=True)
class BackfillPlan:
    """Every day of the range in order; ``done`` are those a completed run already ingested."""

    slices: list[DaySlice]
    done: frozenset[date] = field(default_factory=frozenset)

    @property
    def to_run(self) -> list[DaySlice]:
        return [s for s in self.slices if s.day not in self.done]

    @property
    def skipped(self) -> list[DaySlice]:
        return [s for s in self.slices if s.day in self.done]


def ensure_range(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included.

    Raises:
        ConfigError: ``end`` is before ``start`` or the range is longer than :data:`MAX_DAYS`.
    """
    if end < start:
        raise ConfigError(
            f"--to {end.isoformat()} is before --from {start.isoformat()}",
            hint="give the first day with --from and the last with --to (both included)",
        )
    count = (end - start).days + 1
    if count > MAX_DAYS:
        raise ConfigError(
            f"{count} days from {start.isoformat()} to {end.isoformat()}: a backfill plans at most {MAX_DAYS}",
            hint="split the range into several backfills",
        )
    return [start + timedelta(days=i) for i in range(count)]


def ensure_source_template(template: str) -> str:
    """``template`` if it has a ``{date}`` field and no other.

    Raises:
        ConfigError: no ``{date}`` field, another field, or a brace that does not parse.
    """
    try:
        parsed = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ConfigError(
            f"source template {template!r} does not parse: {exc}",
            hint="write a literal brace as {{ or }}; the day goes in as {date} or {date:%Y/%m/%d}",
        ) from None
    fields = [(name, spec) for name, spec, _ in parsed]
    others = sorted({name or "{}" for name, _ in fields if name != DATE_FIELD})
    if any(conv for _, _, conv in parsed):
        raise ConfigError(
            f"source template {template!r} converts its field (!r, !s, !a)",
            hint="use {date} or a strftime format such as {date:%Y/%m/%d}",
        )
    if others or not fields:
        found = f"fields {', '.join(repr(n) for n in others)}" if others else "no {date} field"
        raise ConfigError(
            f"source template {template!r} has {found}",
            hint="name each day's folder or files with {date} (2024-03-05) or {date:%Y/%m/%d}",
        )
    for _, spec in fields:
        if spec and "%" not in spec:
            raise ConfigError(
                f"source template {template!r}: {{date:{spec}}} is not a strftime format",
                hint="use {date} or a strftime format such as {date:%Y/%m/%d}",
            )
    return template


def day_source(template: str, day: date) -> str:
    """The source of ``day``: ``template`` with its ``{date}`` field filled in.

    Raises:
        ConfigError: the template is refused by :func:`ensure_source_template` or its format cannot be applied.
    """
    try:
        return ensure_source_template(template).format(date=day)
    except (ValueError, UnicodeError) as exc:
        raise ConfigError(
            f"source template {template!r} cannot format a day: {exc}",
            hint="use {date} or a strftime format such as {date:%Y/%m/%d}",
        ) from None


def plan_backfill(
    template: str, start: date, end: date, pattern: str, completed: Collection[tuple[str, str]]
) -> BackfillPlan:
    """The plan of a backfill; ``completed`` holds the (source, pattern) of the deployment's completed runs."""
    ensure_source_template(template)
    slices = [DaySlice(day, day_source(template, day), pattern) for day in ensure_range(start, end)]
    done = frozenset(s.day for s in slices if (s.source, s.pattern) in set(completed))
    return BackfillPlan(slices, done)
