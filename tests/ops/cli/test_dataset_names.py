"""Every ``ops`` command that takes a dataset refuses an invalid name before it reads or writes anything."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ops.factories import invoke, sluice_home

ESCAPE = "../c2/orders2"
COMMANDS = [
    ["lake", "history", ESCAPE],
    ["lake", "vacuum", ESCAPE, "--dry-run"],
    ["lake", "vacuum", ESCAPE, "--yes", "--retention-hours", "0"],
    ["quarantine", "list", "--dataset", ESCAPE],
    ["quarantine", "show", ESCAPE, "1"],
    ["quarantine", "replay", ESCAPE, "--dry-run"],
    ["quarantine", "discard", "sluice-" + "0" * 32 + ":1", "--note", "n", "--dataset", ESCAPE],
    ["runs", "list", "--dataset", ESCAPE],
    ["incident", "open", "--title", "orders late", "--dataset", ESCAPE],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_name_that_climbs_out_of_the_lake_is_refused_with_what_a_valid_name_is(monkeypatch, tmp_path, args):
    sluice_home(monkeypatch, tmp_path)

    result = invoke(*args)

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "error: dataset name '../c2/orders2' holds a path separator" in result.stderr
    assert "hint: a dataset name is 1 to 63 characters" in result.stderr
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing read into being: no home, no lake, no c2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.one_of(st.text(max_size=70), st.sampled_from(["..", "/", "\\", "/etc", "a" * 64, "Orders", "\x00"])))
def test_any_name_gets_an_answer_or_a_clear_error_never_a_traceback(monkeypatch, tmp_path, name):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("lake", "history", name, "-o", "json")

    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (1, 2)  # no table exists, so even a valid name is an error here
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert "error: " in result.stderr and "hint: " in result.stderr
    assert not (tmp_path / "c2").exists() and not (tmp_path / "home" / "lake").exists()
