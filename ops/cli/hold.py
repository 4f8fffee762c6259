"""``ops hold``: legal holds that block retention deletes and erasure in a dataset, or of one subject there.

A subject is stored as its key and the sha256 of its value, never the value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._tables import key, print_fitted, text
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
    from sqlalchemy.engine import Engine

    from sluice.retention.holds import Hold

app = typer.Typer(help="Legal holds: keep a dataset's (or a subject's) rows from retention and erasure.")


def _engine() -> Engine:
    from sluice.runs.metastore import engine_for

    return engine_for(load_settings().metadata_db_url())


def _as_json(hold: Hold) -> dict[str, object]:
    return {
        "hold_id": hold.hold_id,
        "dataset": hold.dataset,
        "subject_key": hold.subject_key or None,
        "subject_sha256": hold.subject_hash or None,
        "reason": hold.reason,
        "created_at": hold.created_at,
        "released_at": hold.released_at,
    }


@app.command("add")
@with_cli_exception_handling
def add(
    *,
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="The dataset the hold covers.")],
    reason: Annotated[str, typer.Option(help="Why the data must be kept (a case, a request).")],
    subject: Annotated[
        str | None, typer.Option(help="Hold only this subject's rows, as key=value (stored hashed).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Place a legal hold on a dataset, or on one subject in it."""
    from sluice.retention.holds import add_hold
    from sluice.retention.subjects import ensure_subject

    chosen = ensure_subject(subject) if subject is not None else None
    with _engine().begin() as conn:
        hold = add_hold(conn, dataset, reason, chosen)
    if output is OutputFormat.JSON:
        print_json(_as_json(hold))
        return
    note(f"{hold.hold_id}: hold on {hold.scope}: {hold.reason}")


@app.command("list")
@with_cli_exception_handling
def list_holds(
    *,
    all_holds: Annotated[bool, typer.Option("--all", help="Also show released holds.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List the active legal holds (with --all, released ones too)."""
    from sluice.retention.holds import list_holds as stored

    with _engine().begin() as conn:
        holds = stored(conn, include_released=all_holds)
    if output is OutputFormat.JSON:
        print_json([_as_json(h) for h in holds])
        return
    if not holds:
        note("no legal holds")
        return
    print_fitted(
        [key("Hold"), key("Dataset"), text("Subject"), text("Reason"), key("Since"), key("Released", wide=True)],
        [
            [
                cell(h.hold_id),
                cell(h.dataset),
                cell(f"{h.subject_key}=sha256:{h.subject_hash[:12]}" if h.subject_key else ""),
                cell(h.reason),
                cell(h.created_at.date()),
                cell(h.released_at.date() if h.released_at else None),
            ]
            for h in holds
        ],
    )


@app.command("release")
@with_cli_exception_handling
def release(hold_id: Annotated[str, typer.Argument(help="The hold's id, as `ops hold list` shows it.")]) -> None:
    """Release a legal hold: retention and erasure apply again where it held."""
    from sluice.retention.holds import release_hold

    with _engine().begin() as conn:
        hold = release_hold(conn, hold_id)
    note(f"{hold.hold_id} released: {hold.scope} is no longer held")
