"""What every command group shares: output format, JSON, exits and error handling.

Only ``typer``, ``rich`` and the standard library are imported here, so that
``ops --help`` stays fast; commands import the heavy modules they need.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
from collections.abc import Callable, Collection
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.exceptions import TyperException

from sluice.errors import ConfigError, SluiceError

if TYPE_CHECKING:
    from sluice.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

RAISE_ENV = "SLUICE_CLI_RAISE"
"""Set to ``1`` (``get_settings().cli.cli_raise``) to let unexpected exceptions propagate with their traceback."""

console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)  # never break a message mid-URL


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output", "-o", case_sensitive=False, help="Table for people, or JSON for scripts (only JSON on stdout)."
    ),
]


def error_message(exc: SluiceError) -> str:
    """The message of ``exc`` without the hint that ``str(exc)`` appends."""
    return str(exc.args[0]) if exc.args else type(exc).__name__


def exit_with_error(message: str, *, hint: str = "", code: int = 1) -> NoReturn:
    """Print ``error:`` and ``hint:`` lines to stderr and exit with ``code``."""
    err_console.print(Text(f"error: {message}", style="bold red"))
    if hint:
        err_console.print(Text(f"hint: {hint}", style="yellow"))
    raise typer.Exit(code)


def exit_with_success(message: str = "", *, output: OutputFormat = OutputFormat.TABLE) -> NoReturn:
    """Print ``message`` (if any) as a note and exit 0."""
    if message:
        note(message, output=output)
    raise typer.Exit(0)


def note(message: str, *, output: OutputFormat = OutputFormat.TABLE, style: str = "") -> None:
    """An informational line: stdout for tables, stderr when stdout carries JSON."""
    target = err_console if output is OutputFormat.JSON else console
    target.print(Text(message, style=style))


def warn(message: str) -> None:
    err_console.print(Text(f"warning: {message}", style="yellow"))


def with_cli_exception_handling(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``SluiceError`` into ``error:``/``hint:`` lines and exit code 1.

    A database error exits 1 with the driver's first line and never its SQL.
    Unexpected exceptions also exit 1 with a one-line message, unless
    ``SLUICE_CLI_RAISE=1`` is set: then they propagate, so a failing test
    shows the real traceback. Typer's own exits (usage errors, aborts) pass
    through untouched.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except SluiceError as exc:
            exit_with_error(error_message(exc), hint=exc.hint)
        except Exception as exc:
            if _raise_unexpected():
                raise
            if (problem := database_problem(exc)) is not None:
                exit_with_error(
                    problem,
                    hint="another command may have changed the same record at the same "
                    f"time: run it again (rerun with {RAISE_ENV}=1 to see the traceback)",
                )
            exit_with_error(
                f"unexpected {type(exc).__name__}: {exc}", hint=f"rerun with {RAISE_ENV}=1 to see the traceback"
            )

    return wrapper


def database_problem(exc: BaseException) -> str | None:
    """One line on a SQLAlchemy error without its SQL statement or parameters; None for other errors.

    A SQLAlchemy error's ``str()`` appends the statement and its parameters,
    which mean nothing to an operator and may carry data: only the driver's
    first line is kept (e.g. ``UNIQUE constraint failed: postmortems.incident_id``).
    """
    if not type(exc).__module__.startswith("sqlalchemy"):
        return None
    cause = getattr(exc, "orig", None)
    detail = str(cause) if cause is not None else str(exc.args[0] if exc.args else "")
    first = (detail.strip().splitlines() or [""])[0].strip() or type(exc).__name__
    return f"the store could not complete the change ({type(exc).__name__}): {first}"


def load_settings() -> Settings:
    """The process settings; an invalid ``SLUICE_*`` value is a ``ConfigError`` naming it."""
    from sluice.settings import get_settings

    return get_settings()


def _raise_unexpected() -> bool:
    """Whether ``SLUICE_CLI_RAISE`` asks for tracebacks; settings that do not load ask for none."""
    from sluice.settings import get_settings

    try:
        return get_settings().cli.cli_raise
    except ConfigError:
        return False


def _jsonable(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(data: object) -> str:
    """``data`` as JSON: dataclasses as objects, datetimes and dates in ISO 8601."""
    return json.dumps(data, default=_jsonable, indent=2, ensure_ascii=False)


def print_json(data: object) -> None:
    """Write ``data`` as JSON to stdout, bypassing rich so nothing is wrapped or styled."""
    typer.echo(to_json(data))


def cell(value: object) -> Text:
    """A table cell that shows ``value`` literally (no rich markup), ``-`` for None."""
    if value is None or value == "":
        return Text("-", style="dim")
    if isinstance(value, datetime):
        return Text(value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if isinstance(value, int) and not isinstance(value, bool):
        return Text(f"{value:,}")
    return Text(str(value))


def utc_from_ms(timestamp_ms: int) -> datetime:
    """A Delta commit timestamp (milliseconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc)


def new_table(*headers: str, fold: Collection[str] = (), **options: Any) -> Table:
    """A rich table; the ``fold`` columns (long paths, messages) break anywhere rather than being cut."""
    table = Table(*headers, **options)
    for column in table.columns:
        if column.header in fold:
            column.overflow = "fold"
    return table


def print_table(table: Table, natural_width: int) -> None:
    """Print ``table``; one wider than the terminal (asked for with ``--wide``) runs past its edge, whole."""
    if natural_width <= console.width:
        console.print(table)
        return
    fixed = console._width  # None: the terminal's width, read anew each time
    console.width = natural_width
    try:
        console.print(table, crop=False)
    finally:
        console._width = fixed
