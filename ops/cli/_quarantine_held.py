"""``ops quarantine held DATASET``: the rows a ``hold`` reference keeps back, their age, parent and fate.

With ``--expire`` it runs the release a maintenance run would: under the dataset's lease, rows whose
parent landed land, rows whose ``hold_timeout`` has passed are quarantined (``orphan_reference``),
each exactly once (whoever else releases at the same time), recorded as a ``release-held`` run.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import OutputFormat, OutputOption, cell, load_settings, note, print_json
from ops.cli._utilities import with_cli_exception_handling as handled

if TYPE_CHECKING:
    from sluice.lake.held_view import HeldRow
    from sluice.runs.records import RunReport
    from sluice.settings import Settings
    from sluice.validate.contracts import Contract

DatasetArgument = Annotated[str, typer.Argument(help="The dataset whose held rows to show.")]
ExpireOption = Annotated[
    bool,
    typer.Option("--expire", help="Release rows whose parent landed and quarantine those past their hold_timeout."),
]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many rows, oldest first.")]


def _contract(settings: Settings, dataset: str) -> Contract:
    from sluice.errors import ContractError
    from sluice.paths import ensure_dataset_name
    from sluice.validate.contracts import find_contract
    from sluice.validate.references import holds

    contract = find_contract(ensure_dataset_name(dataset), settings.contracts_root())
    if not holds(contract):
        raise ContractError(
            f"{dataset}: no reference of its contract has policy: hold, so no row of it is held",
            hint="`ops contract show` lists its references; orphans of the others are quarantined or warned of",
        )
    return contract


def _rows(settings: Settings, contract: Contract) -> list[HeldRow]:
    from sluice.lake.held import held_uri, parent_keys, utcnow
    from sluice.lake.held_view import held_rows
    from sluice.lake.table import committed_batches, open_table, table_uri

    root, opts = settings.lake_root(), dict(settings.lake_storage_options)
    uri = held_uri(root, contract.name)
    hold = open_table(uri, opts)
    if hold is None:
        return []
    batches = hold.to_pyarrow_table(columns=["_batch_id"]).column("_batch_id").unique().to_pylist()
    committed = committed_batches(table_uri(root, contract.name), batches, opts)
    parents = parent_keys(contract, partial(table_uri, root), opts)
    return held_rows(uri, contract, parents, utcnow(), committed, opts)


def _expire(settings: Settings, contract: Contract) -> RunReport | None:
    from sluice.ingest_held import release_dataset
    from sluice.lake import staging, staging_runs
    from sluice.runs.metastore import engine_for, save_run
    from sluice.runs.records import RunReport, ensure_conserved

    base = RunReport(f"ops-{uuid.uuid4().hex[:12]}", contract.name, "ops", settings.env, datetime.now(timezone.utc))
    root = staging.location(settings.staging_location(), settings.lake_storage_options)
    run_dir, _ = staging_runs.open_run(root, base.run_id, stale_hours=settings.staging_stale_hours)
    try:
        report = release_dataset(settings, base, contract, run_dir)
    finally:
        staging.remove_run(run_dir)
    if report is not None:
        ensure_conserved(report)
        with engine_for(settings.metadata_db_url()).begin() as conn:
            save_run(conn, report)
    return report


def _as_json(row: HeldRow) -> dict[str, object]:
    return {
        "batch_id": row.batch_id,
        "source_row": row.source_row,
        "source_file": row.source_file,
        "held_run": row.held_run,
        "held_at": row.held_at,
        "age_seconds": int(row.age.total_seconds()),
        "waits_for": row.waits_for,
        "due_at": row.due_at,
        "fate": row.fate,
    }


def _print_rows(rows: list[HeldRow]) -> None:
    print_fitted(
        [key("Held at"), number("Age"), text("Waits for"), key("Due"), key("Fate"), text("Source", wide=True)],
        [
            [
                cell(r.held_at.strftime("%Y-%m-%d %H:%M:%S")),
                cell(str(r.age).split(".")[0]),
                cell(r.waits_for),
                cell(r.due_at.strftime("%Y-%m-%d %H:%M:%S") if r.due_at else None),
                cell(r.fate),
                cell(f"{r.source_file} row {r.source_row}"),
            ]
            for r in rows
        ],
    )


def _note_release(report: RunReport | None, output: OutputFormat) -> None:
    if report is None:
        note("no held row was due or had its parent: nothing released", output=output)
        return
    note(
        f"release {report.run_id}: {report.rows_written} landed, {report.rows_quarantined} quarantined "
        f"(orphan_reference), {report.rows_duplicate} duplicate",
        output=output,
    )


def held(
    dataset: DatasetArgument,
    *,
    expire: ExpireOption = False,
    limit: LimitOption = 50,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List a dataset's held rows with age, missing parent and fate; --expire releases or quarantines them."""
    settings = load_settings()
    contract = _contract(settings, dataset)
    released = _expire(settings, contract) if expire else None
    rows = _rows(settings, contract)
    if output is OutputFormat.JSON:
        body: dict[str, object] = {"dataset": dataset, "held": [_as_json(r) for r in rows[:limit]], "total": len(rows)}
        if expire:
            body["release"] = (
                None
                if released is None
                else {
                    "run_id": released.run_id,
                    "rows_landed": released.rows_written,
                    "rows_quarantined": released.rows_quarantined,
                    "rows_duplicate": released.rows_duplicate,
                }
            )
        print_json(body)
        return
    if expire:
        _note_release(released, output)
    if not rows:
        note(f"{dataset}: no held rows")
        return
    _print_rows(rows[:limit])
    if len(rows) > limit:
        note(f"{len(rows) - limit} more held row(s); --limit shows more", style="dim")


def register(app: typer.Typer) -> None:
    """Add ``held`` to the ``ops quarantine`` group."""
    app.command("held")(handled(held))
