from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ops.cli import _utilities
from sluice import __version__
from sluice.errors import ConfigError
from tests.ops.factories import invoke, sluice_home

HEAVY = ("prefect", "deltalake", "pandas", "dask", "distributed", "pyarrow", "sqlalchemy", "httpx")


def test_importing_the_cli_loads_no_heavy_module():
    code = f"import sys, ops.cli; print([m for m in {HEAVY!r} if m in sys.modules])"

    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert loaded.strip() == "[]"


def test_version_json_names_sluice_and_its_libraries():
    result = invoke("version", "--output", "json")

    versions = json.loads(result.stdout)
    assert versions["sluice"] == __version__
    assert {"prefect", "dask", "deltalake", "pandera", "pyarrow"} <= set(versions)


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "list", "--limit", "zero"],
        ["lake", "history"],
        ["doctor", "--bogus"],
        ["runs", "list", "--output", "yaml"],
    ],
)
def test_bad_arguments_exit_2_with_usage(args):
    result = invoke(*args)

    assert result.exit_code == 2
    assert "Usage:" in result.output


def test_invalid_setting_is_reported_as_an_error_with_hint(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    monkeypatch.setenv("SLUICE_ENV", "moon")

    result = invoke("runs", "list")

    assert result.exit_code == 1
    assert "error: invalid settings: SLUICE_ENV='moon' is not valid" in result.stderr
    assert "one of dev, staging, prod" in result.stderr
    assert "hint: fix or unset SLUICE_ENV" in result.stderr


def _failing(exc: Exception):
    @_utilities.with_cli_exception_handling
    def command() -> None:
        raise exc

    return command


def test_sluice_errors_become_error_and_hint_lines_with_exit_1(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _run(_failing(ConfigError("the lake is gone", hint="set SLUICE_LAKE_URI")))

    assert exit_info.value.code == 1
    assert capsys.readouterr().err.splitlines() == ["error: the lake is gone", "hint: set SLUICE_LAKE_URI"]


def test_unexpected_errors_propagate_when_cli_raise_is_set():
    with pytest.raises(ZeroDivisionError):
        _failing(ZeroDivisionError("boom"))()


def test_unexpected_errors_exit_1_without_traceback_otherwise(monkeypatch, capsys):
    monkeypatch.delenv(_utilities.RAISE_ENV)

    with pytest.raises(SystemExit) as exit_info:
        _run(_failing(ZeroDivisionError("boom")))

    assert exit_info.value.code == 1
    assert "error: unexpected ZeroDivisionError: boom" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["true", "yes"])
def test_cli_raise_takes_any_boolean_the_settings_take(monkeypatch, value: str):
    monkeypatch.setenv(_utilities.RAISE_ENV, value)

    with pytest.raises(ZeroDivisionError):
        _failing(ZeroDivisionError("boom"))()


def test_an_unexpected_error_is_one_line_when_the_settings_do_not_load(monkeypatch, capsys):
    monkeypatch.setenv(_utilities.RAISE_ENV, "sometimes")

    with pytest.raises(SystemExit) as exit_info:
        _run(_failing(ZeroDivisionError("boom")))

    assert exit_info.value.code == 1
    assert "error: unexpected ZeroDivisionError: boom" in capsys.readouterr().err


def _run(command) -> None:
    import typer

    try:
        command()
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None


def test_database_errors_exit_1_without_their_sql(monkeypatch, capsys):
    import sqlalchemy as sa

    monkeypatch.delenv(_utilities.RAISE_ENV)
    error = sa.exc.IntegrityError(
        "INSERT INTO postmortems (incident_id) VALUES (?)",
        (1,),
        Exception("UNIQUE constraint failed: postmortems.incident_id\nDETAIL: more"),
    )

    with pytest.raises(SystemExit) as exit_info:
        _run(_failing(error))

    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert "UNIQUE constraint failed: postmortems.incident_id" in err and "run it again" in err
    assert "INSERT" not in err and "[SQL" not in err and "DETAIL" not in err
