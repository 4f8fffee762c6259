"""``ops erase``: erase a data subject from every dataset and the quarantine, and certify it.

``ops erase --subject email=... --reason TEXT`` deletes; ``ops erase show ID``
and ``ops erase list`` read the certificates under ``<SLUICE_HOME>/erasure``.
"""

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
    from sluice.retention.certificate import Certificate

app = typer.Typer(
    help="Erase a data subject everywhere (GDPR Art. 17) and read the erasure certificates.",
    invoke_without_command=True,
)


def _print_certificate(cert: Certificate) -> None:
    subjects = ", ".join(f"{s.key}=sha256:{s.sha256[:16]}" for s in cert.subjects)
    note(f"{cert.certificate_id}: {cert.status}; subject {subjects}; reason: {cert.reason}")
    if not cert.places:
        note("the subject was found nowhere: no current or past version holds it")
        return
    print_fitted(
        [
            key("Place"),
            number("Rows"),
            text("Versions held", min_width=8),
            number("Deleted in"),
            key("Files removed"),
        ],
        [
            [
                cell(p.table),
                cell(p.rows),
                cell(_ranges(p.versions)),
                cell(p.deleted_in_version),
                cell(p.files_removed_at or (f"pending until {p.pending_until:%Y-%m-%d %H:%M}Z")),
            ]
            for p in cert.places
        ],
    )


def _ranges(versions: list[int]) -> str:
    """1, 2, 3, 7 as ``1-3, 7``."""
    parts: list[str] = []
    for v in sorted(versions):
        if parts and parts[-1].split("-")[-1] == str(v - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{v}"
        else:
            parts.append(str(v))
    return ", ".join(parts)


@app.callback()
@with_cli_exception_handling
def erase(
    ctx: typer.Context,
    *,
    subject: Annotated[
        list[str] | None,
        typer.Option(help="key=value naming the subject's rows, e.g. email=a@b.c; repeat for more keys."),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (the request's reference).")] = None,
    vacuum_now: Annotated[
        bool, typer.Option("--vacuum-now", help="Remove the deleted files at once, not after the retention.")
    ] = False,
    retention_hours: Annotated[
        int, typer.Option(min=0, help="The lake-maintenance retention after which pending files are removed.")
    ] = 168,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Erase a subject: find its rows, delete them, vacuum, and write a certificate."""
    if ctx.invoked_subcommand is not None:
        return
    if not subject or not reason or not reason.strip():
        exit_with_error(
            "ops erase needs --subject key=value and --reason",
            hint="e.g. ops erase --subject email=jane@example.com --reason 'request 2026-118'",
            code=2,
        )
    from sluice.retention.erasure import ErasureRequest
    from sluice.retention.service import run_erasure
    from sluice.retention.subjects import ensure_subject

    request = ErasureRequest(
        [ensure_subject(s) for s in subject], reason.strip(), vacuum_now=vacuum_now, retention_hours=retention_hours
    )
    cert = run_erasure(load_settings(), request)
    if output is OutputFormat.JSON:
        print_json(cert.model_dump(mode="json"))
        return
    _print_certificate(cert)


@app.command("show")
@with_cli_exception_handling
def show(
    certificate_id: Annotated[str, typer.Argument(help="The certificate's id, as `ops erase list` shows it.")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show one erasure certificate."""
    from sluice.retention.certificate import load_certificate

    cert = load_certificate(load_settings().home, certificate_id)
    if output is OutputFormat.JSON:
        print_json(cert.model_dump(mode="json"))
        return
    _print_certificate(cert)


@app.command("list")
@with_cli_exception_handling
def list_certificates(output: OutputOption = OutputFormat.TABLE) -> None:
    """List the erasure certificates, oldest first."""
    from sluice.retention.certificate import list_certificates as stored

    certs = stored(load_settings().home)
    if output is OutputFormat.JSON:
        print_json([c.model_dump(mode="json") for c in certs])
        return
    if not certs:
        note("no erasure certificates")
        return
    print_fitted(
        [key("Certificate"), key("Requested"), text("Status"), number("Places")],
        [[cell(c.certificate_id), cell(c.requested_at), cell(c.status), cell(len(c.places))] for c in certs],
    )
