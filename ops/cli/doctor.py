"""``ops doctor``: check everything an ingestion run depends on, and say what to fix."""

import re
from typing import Annotated

import typer
from rich.text import Text

from ops.cli._tables import key, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    load_settings,
    print_json,
    with_cli_exception_handling,
)

_STYLES = {"OK": "green", "WARN": "yellow", "FAIL": "bold red"}
_PG_NAME = re.compile(r"^[a-z0-9_]{1,63}$")
SlotOption = Annotated[
    list[str] | None,
    typer.Option("--slot", help="A replication slot SLUICE_CDC_DSN must hold (repeat for more); default: list all."),
]
PublicationOption = Annotated[str | None, typer.Option("--publication", help="A publication SLUICE_CDC_DSN must hold.")]


def _names(slots: list[str] | None, publication: str | None) -> tuple[str, ...]:
    from sluice.errors import ConfigError

    for what, name in [*(("slot", s) for s in slots or []), *([("publication", publication)] if publication else [])]:
        if not _PG_NAME.match(name):
            raise ConfigError(
                f"{what} name {name!r} is not a PostgreSQL {what} name",
                hint="use 1 to 63 lower-case letters, digits and underscores",
            )
    return tuple(dict.fromkeys(slots or []))


@with_cli_exception_handling
def doctor(
    *, slot: SlotOption = None, publication: PublicationOption = None, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Check the settings, Prefect API, Dask, lake, quarantine, metadata store, contracts and source databases.

    A SLUICE_* variable that no setting reads (a typo) is a WARN naming the
    closest known name. Each database of SLUICE_DATABASES must answer and take
    its credentials; SLUICE_CDC_DSN, when set, must also run wal_level=logical
    and hold the --slot(s) and --publication named. Exits 1 when any check
    FAILs; WARN alone exits 0.
    """
    from ops.doctor.models import Status
    from ops.doctor.service import run_checks

    slots = _names(slot, publication)
    settings = load_settings()
    results = run_checks(settings, slots=slots, publication=publication)
    if output is OutputFormat.JSON:
        print_json(results)
    else:
        print_fitted(
            [key("Check"), key("Status"), text("Detail"), text("What to do next")],
            [
                [
                    cell(result.name),
                    Text(result.status.value, style=_STYLES[result.status.value]),
                    cell(result.detail),
                    Text(result.hint) if result.hint else Text(""),
                ]
                for result in results
            ],
            title=f"Sluice doctor ({settings.env})",
            show_lines=True,
        )
    if any(r.status is Status.FAIL for r in results):
        raise typer.Exit(1)
