"""``ops baseline``: statistical baselines and the anomaly detector behind dynamic thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ops.cli._utilities import console, new_table, print_json, with_cli_exception_handling

app = typer.Typer(help="Statistical baselines and anomaly scores.", no_args_is_help=True)


@app.command("score")
@with_cli_exception_handling
def score(
    *,
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV with columns timestamp,value.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write timestamp,value,anomaly_score.")],
    json_summary: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Score every row of a series in [0, 1], strictly causally (the score at t uses rows up to t only).

    The same algorithm and settings serve every series; nothing is tuned per file.
    """
    from ops.baselines.scoring import score_csv

    summary = score_csv(input, output)
    if json_summary:
        print_json(summary)
        return
    table = new_table("rows", "missing", "season", "max score", "rows ≥ 0.5", "written to")
    table.add_row(f"{summary.rows:,}", f"{summary.missing_values:,}", summary.season, f"{summary.max_score:.3f}",
                  f"{summary.rows_over_half:,}", summary.output)
    console.print(table)
