"""``ops doctor``: check everything an ingestion run depends on, and say what to fix."""

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


@with_cli_exception_handling
def doctor(*, output: OutputOption = OutputFormat.TABLE) -> None:
    """Check the settings, Prefect API, Dask, lake, quarantine, metadata store and contracts.

    A SLUICE_* variable that no setting reads (a typo) is a WARN naming the
    closest known name. Exits 1 when any check FAILs; WARN alone exits 0.
    """
    from ops.doctor.models import Status
    from ops.doctor.service import run_checks

    settings = load_settings()
    results = run_checks(settings)
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
