"""Tables that fit the terminal (80 columns) with every number whole.

A table is declared by its columns, each of one kind:

- ``number`` (counts, values, scores, sizes, times): right-justified, never
  wrapped nor cut;
- ``key`` (ids, names, dates): never wrapped nor cut either;
- ``text`` (titles, messages, paths, label sets): the columns that give way.
  Their lines wrap between words and break a word only when it is wider
  than the column, and a text column is never narrower than the longest
  number in it, so a number inside a text is whole too.

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
_NUMBER = re.compile(r"[-+~≤≥<>(\[]*\d[\d,.]*(e[-+]?\d+)?[%a-zA-Z/)\],;:]*")


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


def _share(room: int, naturals: list[int], floors: list[int]) -> list[int]:
    """``room`` divided among text columns: a column that needs less than a fair share takes what it needs."""
    widths = [0] * len(naturals)
    pending = sorted(range(len(naturals)), key=lambda i: naturals[i])
    while pending:
        fair = room // len(pending)
        first = pending[0]
        if naturals[first] > fair:
            break
        widths[first] = naturals[first]
        room -= naturals[first]
        pending.pop(0)
    for n, i in enumerate(pending):
        fair = room // len(pending) + (1 if n < room % len(pending) else 0)
        widths[i] = max(floors[i], fair)
    return widths


def fit_table(columns: Sequence[Column], rows: Iterable[Sequence[object]], *, wide: bool = False,
              **options: Any) -> tuple[Table, int]:
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
        floors = [max(min(kept[n].min_width, naturals[n]), _longest_number(r[n] for r in body)) for n in flexible]
        for n, w in zip(flexible, _share(room, [naturals[n] for n in flexible], floors), strict=True):
            widths[n] = w
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0), show_edge=False,
                  title_justify="left", **options)
    for c, w in zip(kept, widths, strict=True):
        table.add_column(c.header, width=w, no_wrap=c.kind != "text", overflow="fold",
                         justify="right" if c.kind == "number" else "left")
    for row in body:
        table.add_row(*row)
    return table, sum(widths) + spacing


def print_fitted(columns: Sequence[Column], rows: Iterable[Sequence[object]], *, wide: bool = False,
                 **options: Any) -> None:
    """Print the fitted table (see :func:`fit_table`)."""
    table, width = fit_table(columns, list(rows), wide=wide, **options)
    print_table(table, width)
