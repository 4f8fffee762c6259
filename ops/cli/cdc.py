"""``ops cdc``: PostgreSQL change-capture slots: their lag, their position against the lake, dropping one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from sluice.settings import Settings

app = typer.Typer(help="PostgreSQL change data capture: replication slots and their lag.", no_args_is_help=True)

DsnOption = Annotated[
    str, typer.Option("--dsn", envvar="SLUICE_CDC_DSN", help="libpq URL of the source database (or SLUICE_CDC_DSN).")
]
SlotArgument = Annotated[str, typer.Argument(help="The replication slot.")]


@app.command("slots")
@with_cli_exception_handling
def list_slots(dsn: DsnOption, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the server's logical slots with their consumer and lag (bytes and seconds)."""
    from sluice.sources.cdc.service import list_slots as read_slots

    found = read_slots(dsn)
    if output is OutputFormat.JSON:
        print_json([s.as_dict() for s in found])
        return
    rows = [
        [
            cell(s.name),
            cell(s.active_pid),
            cell(s.as_dict()["confirmed_lsn"]),
            cell(s.lag_bytes),
            cell(None if s.lag_seconds is None else round(s.lag_seconds, 1)),
        ]
        for s in found
    ]
    print_fitted([key("Slot"), number("PID"), key("Confirmed"), number("Lag bytes"), number("Lag s")], rows)


def _captured_table(dataset: str, settings: Settings) -> str:
    """The lake table a capture of ``dataset`` writes: the keyed table itself, or ``<dataset>_changes``.

    Without a contract for ``dataset`` (the capture needs one), the changes table is read.
    """
    from sluice.errors import ContractError
    from sluice.lake.table import table_uri
    from sluice.paths import ensure_dataset_name
    from sluice.sources.cdc.sink import CHANGES_SUFFIX
    from sluice.validate.contracts import find_contract

    try:
        keyed = find_contract(ensure_dataset_name(dataset), settings.contracts_root()).keyed
    except ContractError:
        keyed = False
    return table_uri(settings.lake_root(), dataset if keyed else f"{dataset}{CHANGES_SUFFIX}")


@app.command("status")
@with_cli_exception_handling
def status(
    slot: SlotArgument,
    dsn: DsnOption,
    dataset: Annotated[
        str | None,
        typer.Option(help="The captured dataset: compare with the table the capture writes (keyed or _changes)."),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show one slot: consumer, confirmed LSN, lag, and the LSN the dataset's lake table holds.

    The lake table is the dataset's own when its contract is keyed (upsert, scd2), else ``<dataset>_changes``.
    """
    from sluice.sources.cdc.service import status as read_status

    settings = load_settings()
    uri = _captured_table(dataset, settings) if dataset else None
    found = read_status(dsn, slot, uri, dict(settings.lake_storage_options) or None).as_dict()
    if output is OutputFormat.JSON:
        print_json(found)
        return
    print_fitted([key("Field"), text("Value")], [[cell(k), cell(v)] for k, v in found.items()])


@app.command("drop-slot")
@with_cli_exception_handling
def drop_slot(
    slot: SlotArgument,
    dsn: DsnOption,
    yes: Annotated[bool, typer.Option("--yes", help="Drop without asking.")] = False,
) -> None:
    """Drop a slot: the server frees the WAL it held; the capture must start over with a snapshot."""
    from sluice.sources.cdc.service import drop_slot as drop

    if not yes:
        typer.confirm(f"drop replication slot {slot!r}? changes it holds are lost to the capture", abort=True)
    drop(dsn, slot)
    note(f"dropped replication slot {slot}")
