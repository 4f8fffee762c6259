"""``ops lake stats`` and ``ops lake optimize``: a table's files and column statistics; compaction and Z-order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    exit_with_error,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from sluice.lake.maintain import OptimizeResult
    from sluice.lake.stats import TableStats


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _print_stats(stats: TableStats) -> None:
    rows = "unknown" if stats.rows is None else f"{stats.rows:,}"
    note(
        f"version {stats.version}: {rows} rows in {stats.files:,} file(s), {size_text(stats.bytes)} "
        f"(mean {size_text(stats.mean_file_bytes)}), {stats.partitions} partition(s), "
        f"at most {stats.largest_partition_files} file(s) in one"
    )
    table_rows = [
        [cell(c.name), cell(c.min), cell(c.max), cell(c.nulls), cell("" if c.complete else "some files")]
        for c in stats.columns
    ]
    print_fitted(
        [key("Column"), text("Min", min_width=8), text("Max", min_width=8), number("Nulls"), text("No stats")],
        table_rows,
        title=stats.table,
    )
    if any(not c.complete for c in stats.columns):
        note(
            "a filter cannot skip files without column statistics; `ops lake optimize` rewrites crowded dates "
            "with them",
            style="dim",
        )


def stats(
    dataset: Annotated[str, typer.Argument(help="The dataset, as named by its contract.")],
    *,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show a dataset table's rows, files and size, and each column's min, max and nulls, from the Delta log."""
    from ops.cli.lake import require_table
    from sluice.lake.stats import table_stats

    settings = load_settings()
    uri = require_table(settings, dataset)
    found = table_stats(uri, dict(settings.lake_storage_options) or None)
    if output is OutputFormat.JSON:
        print_json(found)
        return
    _print_stats(found)


def _zorder_columns(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [c.strip() for c in value.split(",") if c.strip()]
    if not names:
        raise typer.BadParameter("name at least one column, e.g. --zorder customer_id", param_hint="--zorder")
    return names


def _print_optimized(result: OptimizeResult) -> None:
    rows = [
        [cell("files"), cell(result.files_before), cell(result.files_after)],
        [cell("bytes"), cell(size_text(result.bytes_before)), cell(size_text(result.bytes_after))],
        [cell("version"), cell(result.version_before), cell(result.version_after)],
    ]
    print_fitted([key("Table"), number("Before"), number("After")], rows, title=result.table)
    note(f"{result.summary} in {result.seconds:.1f} s")
    if result.changed:
        note(
            "the replaced files stay for time travel until `ops lake vacuum` (or the lake-maintenance flow) "
            "removes them past the retention",
            style="dim",
        )


def optimize(
    dataset: Annotated[str, typer.Argument(help="The dataset, as named by its contract.")],
    *,
    zorder: Annotated[
        str | None,
        typer.Option(help="Comma-separated columns to Z-order on (default: the contract's maintenance.zorder)."),
    ] = None,
    target_size: Annotated[
        int | None,
        typer.Option("--target-size", min=1, help="Target file size in MiB (default: the contract's, or the setting)."),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Compact a dataset's table into fewer, larger files, or Z-order it, then checkpoint; the rows stay the same."""
    from ops.cli.lake import require_table
    from sluice.lake.maintain import zorder_problem
    from sluice.lake.maintain_dataset import layout_plan, optimize_dataset
    from sluice.lake.table import open_table

    settings = load_settings()
    uri = require_table(settings, dataset)
    plan = layout_plan(settings, dataset, zorder=_zorder_columns(zorder), target_mb=target_size)
    table = open_table(uri, dict(settings.lake_storage_options) or None)
    problem = zorder_problem(table, plan.zorder) if table is not None else None
    if problem is not None:
        exit_with_error(
            f"cannot Z-order {dataset}: {problem}", hint="`ops lake stats DATASET` lists its columns", code=2
        )
    result = optimize_dataset(settings, plan, run_id="ops-lake-optimize")
    if output is OutputFormat.JSON:
        print_json(result)
        return
    _print_optimized(result)


def register(app: typer.Typer) -> None:
    app.command("stats")(with_cli_exception_handling(stats))
    app.command("optimize")(with_cli_exception_handling(optimize))
