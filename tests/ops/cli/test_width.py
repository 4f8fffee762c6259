"""Every ``ops`` list/show table at 80 columns: no line is wider, and no number is cut or broken."""

from __future__ import annotations

import re

import pytest

from tests.ops.cli.width_cases import BUILDERS
from tests.ops.factories import invoke, sluice_home

CUT = re.compile(r"\d[\d,.]*…|…[\d,.]*\d")
"""A number that ends or starts in an ellipsis: one a column cut."""


def whole(number: str, out: str) -> bool:
    """Whether ``number`` is in ``out`` on one line, not as a part of a longer number."""
    return re.search(rf"(?<![\d,.]){re.escape(number)}(?![\d]|[,.]\d)", out) is not None


@pytest.mark.parametrize("build", BUILDERS, ids=lambda build: build.__name__)
def test_every_table_fits_80_columns_with_every_number_whole(build, monkeypatch, tmp_path):
    from ops.cli._utilities import console

    shown = build(sluice_home(monkeypatch, tmp_path), tmp_path, monkeypatch)
    monkeypatch.setattr(console, "_width", 80)  # a terminal 80 columns wide

    for command in shown:
        result = invoke(*command.args)

        assert result.exit_code in command.exit_codes, (command.args, result.output)
        lines = result.stdout.splitlines()
        assert lines, command.args
        assert [line for line in lines if len(line) > 80] == [], command.args
        assert [line for line in lines if CUT.search(line)] == [], command.args
        assert [n for n in command.numbers if not whole(n, result.stdout)] == [], (command.args, result.stdout)
