"""``ops contract``: list and show the dataset contracts, diff two versions, check every change against git."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from ops.cli._tables import key, number, print_fitted, text
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
    from sluice.validate.contracts import ColumnSpec, Contract
    from sluice.validate.evolution import ContractDiff
    from sluice.validate.history import CheckReport

app = typer.Typer(
    help="Dataset contracts: list, show, diff two versions, check every change against its declared compatibility.",
    no_args_is_help=True,
)

ContractArgument = Annotated[
    str, typer.Argument(help="A contract: its name, NAME@REF (at a git revision) or a YAML file.", show_default=False)
]


def _root() -> Path:
    return load_settings().contracts_root()


@app.command("list")
@with_cli_exception_handling
def list_contracts(*, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the contracts: version, declared compatibility, how the lake keeps them, columns."""
    from sluice.validate.contracts import available_contracts, find_contract

    root = _root()
    contracts = [find_contract(n, root) for n in available_contracts(root)]
    if output is OutputFormat.JSON:
        print_json([_summary(c) for c in contracts])
        return
    print_fitted(
        [key("Contract"), number("Version"), key("Compatibility"), key("Mode"), number("Columns"), text("Owner")],
        [
            [cell(c.name), cell(c.version), cell(c.compatibility), cell(c.mode), cell(len(c.columns)), cell(c.owner)]
            for c in contracts
        ],
    )


def _summary(contract: Contract) -> dict[str, Any]:
    return {
        "name": contract.name,
        "version": contract.version,
        "compatibility": contract.compatibility.value,
        "mode": contract.mode.value,
        "columns": len(contract.columns),
        "owner": contract.owner,
    }


def _checks(column: ColumnSpec) -> str:
    parts = []
    if column.allowed_values is not None:
        parts.append("in " + ", ".join(column.allowed_values))
    if column.min is not None or column.max is not None:
        low, high = ("-" if v is None else f"{v:g}" for v in (column.min, column.max))
        parts.append(f"range {low}..{high}")
    if column.pattern:
        parts.append(f"pattern {column.pattern}")
    if column.max_length:
        parts.append(f"max_length {column.max_length}")
    if column.pii:
        parts.append("pii")
    return "; ".join(parts)


@app.command("show")
@with_cli_exception_handling
def show(contract: ContractArgument, *, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show a contract: its version, compatibility, keys and columns."""
    from sluice.validate.history import load_ref

    found = load_ref(contract, _root())
    if output is OutputFormat.JSON:
        print_json(found.model_dump(mode="json"))
        return
    note(
        f"{found.name} version {found.version}, {found.compatibility.value}, removed columns: "
        f"{found.removed_columns.value}; mode {found.mode.value}, primary key {', '.join(found.primary_key)}, "
        f"partition {found.partition.column}"
    )
    print_fitted(
        [key("Column"), key("Type"), key("Null"), key("Criticality"), text("Checks")],
        [
            [cell(c.name), cell(c.type), cell("yes" if c.nullable else "no"), cell(c.criticality), cell(_checks(c))]
            for c in found.columns
        ],
    )
    for array, spec in found.explode.items():
        note(
            f"explodes {array} into {spec.dataset}: parent key {', '.join(spec.parent_key)}, index {spec.index_column}"
        )


def _diff_json(diff: ContractDiff) -> dict[str, Any]:
    return {
        "name": diff.name,
        "old_version": diff.old_version,
        "new_version": diff.new_version,
        "declared": diff.declared.value,
        "keeps": diff.level,
        "ok": diff.ok,
        "problems": diff.problems,
        "changes": [{**vars(c), "keeps": c.effect} for c in diff.changes],
        "lake": [vars(b) for b in diff.lake],
        "other": list(diff.other),
    }


def _print_diff(diff: ContractDiff) -> None:
    from sluice.validate.evolution import describe

    lake = {(b.field, b.what) for b in diff.lake}
    rows = [
        [cell(c.field), cell(describe(c)), cell("lake" if (c.field, c.what) in lake else c.effect)]
        for c in diff.changes
    ]
    rows += [[cell("(contract)"), cell(f"{b.what} changed"), cell("lake")] for b in diff.lake if b.field is None]
    rows += [[cell(name), cell("changed (not the schema)"), cell("-")] for name in diff.other]
    if rows:
        print_fitted([key("Column"), text("Change"), key("Keeps")], rows)
    else:
        note("no changes")


def _verdict(diff: ContractDiff) -> None:
    head = (
        f"{diff.name}: version {diff.old_version} -> {diff.new_version} keeps {diff.level}; "
        f"declared {diff.declared.value}: {'ok' if diff.ok else 'breaks'}"
    )
    note(head, style="green" if diff.ok else "red")
    for problem in diff.problems:
        console.print(Text(f"  {problem}", style="red"))


@app.command("diff")
@with_cli_exception_handling
def diff(old: ContractArgument, new: ContractArgument, *, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show each change from OLD to NEW with the levels it keeps, and the verdict by NEW's declared level.

    "Keeps" names the compatibility levels a change keeps: FULL, BACKWARD,
    FORWARD, NONE, or "lake" for a change the lake takes at no level.
    Exits 0 whatever the verdict: `ops contract check` is the gate.
    """
    from sluice.validate.evolution import diff_contracts
    from sluice.validate.history import load_ref

    root = _root()
    result = diff_contracts(load_ref(old, root), load_ref(new, root))
    if output is OutputFormat.JSON:
        print_json(_diff_json(result))
        return
    _print_diff(result)
    _verdict(result)


def _check_json(report: CheckReport) -> dict[str, Any]:
    return {
        "base": report.base,
        "ok": report.ok,
        "contracts": [
            {
                "name": c.name,
                "status": c.status,
                "ok": c.ok,
                "problems": list(c.problems),
                "diff": _diff_json(c.diff) if c.diff is not None else None,
            }
            for c in report.checks
        ],
    }


@app.command("check")
@with_cli_exception_handling
def check(
    *,
    against: Annotated[
        str | None,
        typer.Option(
            help="The git revision to compare with. Default: the merge base with origin/main (or main); "
            "on main itself, HEAD with uncommitted contract changes, else HEAD~.",
            show_default=False,
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(help="A folder of the earlier contracts, instead of git.", show_default=False),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Check every contract's change: it keeps the declared compatibility, and a schema change raises the version.

    Exits 1 when a change breaks its contract's declared level or the lake, a
    schema change kept its version, or a contract does not load.
    """
    from sluice.validate.history import check_contracts

    report = check_contracts(_root(), against=against, previous=previous)
    if output is OutputFormat.JSON:
        print_json(_check_json(report))
    else:
        _print_check(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_check(report: CheckReport) -> None:
    rows = []
    for c in report.checks:
        d = c.diff
        rows.append(
            [
                cell(c.name),
                cell(d.old_version if d else None),
                cell(d.new_version if d else None),
                cell(d.declared if d else None),
                cell(d.level if d and c.status == "changed" else None),
                Text(c.status if c.ok else f"{c.status}: fails", style="" if c.ok else "bold red"),
            ]
        )
    print_fitted(
        [key("Contract"), number("Was"), number("Now"), key("Declared"), key("Keeps"), text("Result")],
        rows,
        title=f"Contracts against {report.base}",
    )
    for c in report.checks:
        for problem in c.problems:
            console.print(Text(f"{c.name}: {problem}", style="red"))
    failed = sum(not c.ok for c in report.checks)
    note(
        f"{failed} contract(s) fail the check" if failed else "every contract change keeps its declared compatibility",
        style="red" if failed else "green",
    )
