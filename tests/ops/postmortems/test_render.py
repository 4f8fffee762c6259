"""Formatting helpers of the Markdown renderer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ops.postmortems.render import escape, prompt, span, table


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (None, "-"),
        (timedelta(0), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=12, seconds=5), "12m 5s"),
        (timedelta(hours=3, minutes=20, seconds=9), "3h 20m"),
        (timedelta(days=2, hours=4), "2d 4h"),
        (timedelta(minutes=-3), "-3m"),
    ],
)
def test_spans_show_the_two_largest_units(delta, text):
    assert span(delta) == text


def test_table_cells_cannot_break_the_table():
    lines = table(("A", "B"), [("x | y", "line\nbreak")])

    assert lines == ["| A | B |", "|---|---|", "| x \\| y | line<br>break |"]
    assert escape("a\\b") == "a\\\\b"


def test_prompts_are_quoted_and_marked():
    assert prompt("why?") == "> **To fill in:** why?"
