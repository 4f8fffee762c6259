"""``ops pii scan``: find personal data in a sample of a dataset and compare it with the contract's ``pii`` tags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from ops.cli._tables import key, number, print_fitted
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)
from ops.cli.lake import DatasetArgument, require_table

if TYPE_CHECKING:
    from sluice.governance.pii import ColumnScan, PiiScan

app = typer.Typer(
    help="Personal data: scan a dataset's sample for it and compare with the contract's pii tags.",
    no_args_is_help=True,
)

DEFAULT_SAMPLE = 10_000  # sluice.governance.pii.SAMPLE_ROWS, without importing it for --help


def _confidence(scan: ColumnScan) -> str:
    return f"{scan.confidence:.1%}" if scan.confidences else "-"


def _json(scan: PiiScan) -> dict[str, Any]:
    return {
        "dataset": scan.dataset,
        "rows_sampled": scan.rows,
        "threshold": scan.threshold,
        "disagreements": len(scan.disagreements),
        "columns": [
            {
                "column": c.column,
                "type": c.type.value,
                "values_sampled": c.values,
                "proposed": c.proposed.value if c.proposed else None,
                "confidence": round(c.confidence, 4),
                "contract_tag": c.tag.value if not isinstance(c.tag, bool) else c.tag,
                "verdict": c.verdict.value,
                "disagrees": c.verdict.disagrees,
                "confidences": {k.value: round(v, 4) for k, v in c.confidences.items()},
            }
            for c in scan.columns
        ],
    }


def _print(scan: PiiScan) -> None:
    from sluice.governance.classes import tag_text

    rows = [
        [
            cell(c.column),
            cell(c.proposed.value if c.proposed else None),
            cell(_confidence(c)),
            cell(tag_text(c.tag)),
            Text(c.verdict.value, style="bold red" if c.verdict.disagrees else ""),
        ]
        for c in scan.columns
    ]
    print_fitted(
        [key("Column"), key("Found"), number("Confidence"), key("Contract"), key("Verdict")],
        rows,
        title=f"{scan.dataset}: {scan.rows:,} rows sampled",
    )
    count = len(scan.disagreements)
    note(
        f"{count} column(s) disagree with the contract's pii tags"
        if count
        else "the contract's pii tags agree with the sample",
        style="red" if count else "green",
    )


@app.command("scan")
@with_cli_exception_handling
def scan(
    dataset: DatasetArgument,
    *,
    sample: Annotated[
        int, typer.Option(min=1, help="Read at most this many rows of the dataset's lake table.")
    ] = DEFAULT_SAMPLE,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Scan a sample of DATASET for e-mails, phones, IBANs, cards, IPs, national ids and names.

    Proposes a pii class per column (the confidence is the share of the
    column's sampled values that match) and compares it with the contract:
    "missing tag", "not found" and "other class" are disagreements. The
    contract's tags are authoritative. Exits 1 when any column disagrees.
    """
    from sluice.governance.pii import scan_dataset
    from sluice.validate.contracts import find_contract

    settings = load_settings()
    contract = find_contract(dataset, settings.contracts_root())
    uri = require_table(settings, dataset)
    result = scan_dataset(contract, uri, sample=sample, storage_options=dict(settings.lake_storage_options) or None)
    if output is OutputFormat.JSON:
        print_json(_json(result))
    else:
        _print(result)
    if result.disagreements:
        raise typer.Exit(1)
