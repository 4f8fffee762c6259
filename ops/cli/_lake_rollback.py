"""``ops lake rollback``: restore a dataset's table to an earlier version by hand, recorded as a rollback."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    exit_with_error,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from sluice.lake.rollback import RollbackOutcome, RollbackRequest
    from sluice.settings import Settings

DEFAULT_REASON = "rolled back by hand"


@dataclass(frozen=True)
class RollbackResult:
    """What ``ops lake rollback`` did, and the run records it marked as rolled back."""

    outcome: RollbackOutcome
    runs_marked: list[str]


def _who() -> str:
    try:
        return f"user {getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "user unknown"


def _check_version(settings: Settings, dataset: str, uri: str, to_version: int) -> int:
    """The table's latest version; exits 2 when ``to_version`` cannot be restored."""
    from sluice.lake.rollback import version_problem
    from sluice.lake.table import open_table

    options = dict(settings.lake_storage_options) or None
    table = open_table(uri, options)
    latest = table.version() if table is not None else -1
    problem = version_problem(table, to_version, options) if table is not None else "no table"
    if problem is not None:
        exit_with_error(f"{dataset}: {problem}", hint=f"`ops lake history {dataset}` lists the versions", code=2)
    return latest


def _restore(settings: Settings, uri: str, request: RollbackRequest) -> RollbackResult:
    from sluice.lake.lease import hold_lease, holder_name
    from sluice.lake.rollback import record_rollback, restore
    from sluice.runs.metastore import engine_for

    engine = engine_for(settings.metadata_db_url())
    holder = holder_name(f"ops-lake-rollback-{request.by.removeprefix('user ')}")
    with hold_lease(
        engine, request.dataset, holder, ttl_s=settings.lease_ttl_seconds, wait_s=settings.lease_wait_seconds
    ) as lease:
        outcome = restore(uri, request, lease=lease, storage_options=dict(settings.lake_storage_options) or None)
    return RollbackResult(outcome, record_rollback(engine, outcome))


@with_cli_exception_handling
def rollback(
    dataset: Annotated[str, typer.Argument(help="The dataset, as named by its contract.")],
    *,
    to_version: Annotated[int, typer.Option("--to-version", help="The version to restore (see `ops lake history`).")],
    reason: Annotated[str, typer.Option(help="Why: recorded on the rollback commit.")] = DEFAULT_REASON,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Restore a dataset's table to an earlier version, with a rollback commit that says why and by whom."""
    from ops.cli.lake import require_table
    from sluice.lake.rollback import RollbackRequest

    settings = load_settings()
    uri = require_table(settings, dataset)
    latest = _check_version(settings, dataset, uri, to_version)
    undone = ", ".join(str(v) for v in range(to_version + 1, latest + 1))
    if not yes:
        prompt = f"Roll {dataset} back to version {to_version}, undoing version(s) {undone}?"
        if not typer.confirm(prompt, default=False, err=True):
            exit_with_error("rollback cancelled; nothing was changed", hint=f"`ops lake history {dataset}`")
    request = RollbackRequest(dataset, to_version, reason.strip() or DEFAULT_REASON, _who(), expected_latest=latest)
    result = _restore(settings, uri, request)
    if output is OutputFormat.JSON:
        print_json(result)
    else:
        note(result.outcome.summary)
        if result.runs_marked:
            note(f"run record(s) marked as rolled back: {', '.join(result.runs_marked)}", style="dim")
    if not result.outcome.restored:
        exit_with_error(
            "nothing was rolled back: another writer committed after the version shown",
            hint=f"check `ops lake history {dataset}`, then run the rollback again if it is still wanted",
        )
