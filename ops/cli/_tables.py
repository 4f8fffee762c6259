"""Tables that fit the terminal (80 columns) with every number whole.

A table is declared by its columns, each of one kind:

- ``number`` (counts, values, scores, sizes, times): right-justified, never
  wrapped nor cut;
- ``key`` (ids, names, dates): never wrapped nor cut either;
- ``text`` (titles, messages, paths, label sets): the columns that give way.
  Their lines wrap between words and break a word only when it is wider
  than the column, and a text column is never narrower than the longest
  number in it (so a number inside a text is whole too) nor than a word of
  its header.

A column marked ``wide`` is secondary: it is shown with ``--wide`` or on a
terminal at least :data:`WIDE_COLUMNS` wide. Columns are divided by one
space, with none at the edges, as in ``ops runs list``. When the ``number``
and ``key`` columns alone are wider than the terminal (or with ``--wide``),
the table runs past its edge, whole, rather than cutting anything
(:func:`~ops.cli._utilities.print_table`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich import box
from rich.table import Table
from rich.text import Text

from ops.cli._utilities import cell, console, print_table

WIDE_COLUMNS = 120
"""From this terminal width on, secondary columns are shown without ``--wide``."""

Kind = Literal["number", "key", "text"]
_NUMBER = re.compile(r"[(\[~±+\-<>≤≥]*\d[\d,._:/%]*([eE][+\-]?\d+)?[a-zA-Zσ%]{0,3}[)\],;:.]*")
"""A word that is a number: digits with their separators, sign, exponent, percent, a short unit and punctuation."""


@dataclass(frozen=True)
class Column:
    """One column of a fitted table."""

    header: str
    kind: Kind = "key"
    wide: bool = False
    min_width: int = 12  # a text column's narrowest (or its widest cell, if that is narrower)


def number(header: str, *, wide: bool = False) -> Column:
    return Column(header, "number", wide)


def key(header: str, *, wide: bool = False) -> Column:
    return Column(header, "key", wide)


def text(header: str, *, wide: bool = False, min_width: int = 12) -> Column:
    return Column(header, "text", wide, min_width)


def shows_wide(wide: bool) -> bool:
    """Whether secondary columns are shown: asked for, or a terminal wide enough."""
    return wide or console.width >= WIDE_COLUMNS


def _as_text(value: object) -> Text:
    return value if isinstance(value, Text) else cell(value)


def _width(value: Text) -> int:
    return max((Text(line).cell_len for line in value.plain.splitlines()), default=0)


def _longest_number(values: Iterable[Text]) -> int:
    """The width of the longest number (a word that is a number, with its unit) in ``values``."""
    return max((len(word) for v in values for word in v.plain.split() if _NUMBER.fullmatch(word)), default=0)


def _longest_word(values: Iterable[Text]) -> int:
    return max((len(word) for v in values for word in v.plain.split()), default=0)


def _grow(widths: list[int], targets: list[int], left: int) -> int:
    """Widen ``widths`` toward ``targets``, evenly, by at most ``left`` in all; returns what is left."""
    growing = [i for i, w in enumerate(widths) if w < targets[i]]
    while left > 0 and growing:
        step = max(left // len(growing), 1)
        for i in list(growing):
            grow = min(step, targets[i] - widths[i], left)
            widths[i] += grow
            left -= grow
            if widths[i] >= targets[i]:
                growing.remove(i)
    return left


def _share(room: int, naturals: list[int], floors: list[int], words: list[int]) -> list[int]:
    """``room`` divided among text columns, none narrower than its floor nor wider than its widest cell.

    Columns first grow from their floors toward their longest word (so that
    lines wrap between words), then toward their widest cell, evenly.
    """
    widths = list(floors)
    left = _grow(
        widths, [max(f, min(w, n)) for f, w, n in zip(floors, words, naturals, strict=True)], room - sum(floors)
    )
    _grow(widths, naturals, left)
    return widths


def fit_table(
    columns: Sequence[Column], rows: Iterable[Sequence[object]], *, wide: bool = False, **options: Any
) -> tuple[Table, int]:
    """The table of the shown ``columns`` and its width; every row holds one value per column of ``columns``.

    ``options`` go to :class:`rich.table.Table` (``title``, ``show_header``, ``show_lines``...).
    """
    show = [i for i, c in enumerate(columns) if shows_wide(wide) or not c.wide]
    kept = [columns[i] for i in show]
    body = [[_as_text(row[i]) for i in show] for row in rows]
    naturals = [max([_width(Text(c.header)), *(_width(r[n]) for r in body)]) for n, c in enumerate(kept)]
    widths = list(naturals)
    spacing = len(kept) - 1
    flexible = [n for n, c in enumerate(kept) if c.kind == "text"]
    if flexible and sum(naturals) + spacing > console.width and not wide:
        room = console.width - spacing - sum(w for n, w in enumerate(naturals) if n not in flexible)
        floors = [
            max(
                min(kept[n].min_width, naturals[n]),
                _longest_number(r[n] for r in body),
                _longest_word([Text(kept[n].header)]),
            )
            for n in flexible
        ]
        words = [_longest_word(r[n] for r in body) for n in flexible]
        for n, w in zip(flexible, _share(room, [naturals[n] for n in flexible], floors, words), strict=True):
            widths[n] = w
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0), show_edge=False, title_justify="left", **options)
    for c, w in zip(kept, widths, strict=True):
        table.add_column(
            c.header,
            width=w,
            no_wrap=c.kind != "text",
            overflow="fold",
            justify="right" if c.kind == "number" else "left",
        )
    for row in body:
        table.add_row(*row)
    return table, sum(widths) + spacing


def print_fitted(
    columns: Sequence[Column], rows: Iterable[Sequence[object]], *, wide: bool = False, **options: Any
) -> None:
    """Print the fitted table (see :func:`fit_table`)."""
    table, width = fit_table(columns, list(rows), wide=wide, **options)
    print_table(table, width)
