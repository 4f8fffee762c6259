"""``ops lake query``: a governed read of a dataset, as the reader's ID token and the dataset's policy allow."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._tables import fit_table, key, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    console,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from sluice.access.principal import Principal
    from sluice.settings import Settings

SHOWN_ROWS = 50


def read_token(token: str | None, token_file: Path | None) -> str:
    """The ID token from ``--token`` or ``--token-file`` (``-``: standard input); exactly one is needed."""
    if token is not None and token_file is None:
        return token.strip()
    if token_file is None or token is not None:
        raise typer.BadParameter("give exactly one of --token and --token-file", param_hint="--token/--token-file")
    if str(token_file) == "-":
        return sys.stdin.read(64 * 1024).strip()
    try:
        return token_file.read_text(encoding="utf-8", errors="replace")[: 64 * 1024].strip()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {token_file}: {exc.strerror}", param_hint="--token-file") from None


def principal_of(settings: Settings, token: str) -> Principal:
    from sluice.access.oidc import TokenVerifier

    return TokenVerifier(settings.access).principal(token)


def _columns(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [c.strip() for c in value.split(",") if c.strip()]
    if not names:
        raise typer.BadParameter("name at least one column", param_hint="--columns")
    return names


def _print_rows(names: list[str], rows: list[dict[str, object]], title: str) -> None:
    """One table of the rows; when its columns cannot fit the terminal, one two-column table per row."""
    columns = [text(c, min_width=6) for c in names]
    body = [[cell(row[c]) for c in names] for row in rows]
    _, width = fit_table(columns, body)
    if width <= console.width:
        print_fitted(columns, body, title=title)
        return
    console.print(title)
    for number, row in enumerate(rows, start=1):
        print_fitted([key("Column"), text("Value")], [[cell(c), cell(row[c])] for c in names], title=f"row {number}")


@with_cli_exception_handling
def query(
    dataset: Annotated[str, typer.Argument(help="The dataset, as named by its contract.")],
    *,
    where: Annotated[
        str | None,
        typer.Option("--where", help="Keep rows matching: country = 'DE' AND segment IN ('vip', 'business')."),
    ] = None,
    columns: Annotated[str | None, typer.Option("--columns", help="Comma-separated columns to return.")] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Your OIDC ID token (visible to other users' ps).")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="A file holding your ID token; - reads standard input.")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why you read this data; kept in the audit.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000_000, help="Return at most this many rows.")] = 1000,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Read DATASET through its access policy: only the rows and columns your roles allow, masked as it says.

    Your identity comes from an OIDC ID token (SLUICE_ACCESS_OIDC_ISSUER);
    the read, or its denial, is recorded in the access audit (`ops audit list`).
    """
    from sluice.access.read import governed_read

    settings = load_settings()
    id_token = read_token(token, token_file)
    chosen = _columns(columns)
    who = principal_of(settings, id_token)
    result = governed_read(dataset, who, columns=chosen, where=where, reason=reason, limit=limit, settings=settings)
    rows = result.table.to_pylist()
    if output is OutputFormat.JSON:
        print_json({"dataset": dataset, "rule": result.rule, "masks": result.plan.masks, "rows": rows})
        return
    shown = rows[:SHOWN_ROWS]
    _print_rows(
        result.table.column_names, shown, f"{dataset}: {len(rows):,} row(s) for {who.subject} (rule {result.rule})"
    )
    if len(rows) > len(shown):
        note(f"showing {len(shown)} of {len(rows):,} rows; --output json returns them all", style="dim")
    if result.plan.masks:
        masked = ", ".join(f"{c} ({m})" for c, m in sorted(result.plan.masks.items()))
        note(f"masked by the policy: {masked}", style="dim")
