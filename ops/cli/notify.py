"""``ops notify``: the notification outbox — send what is pending, list what is there.

Notifications to PagerDuty and Slack are queued in the incident store
(``SLUICE_INCIDENTS_URL``) with the incident change that caused them and sent
after it; what could not be sent stays ``pending`` with its last error.
``flush`` sends it now; ``list`` shows the outbox; ``serve`` delivers in the
foreground until stopped, for a service manager (without it, the process
that changed an incident starts a background deliverer when something is
left: see :mod:`ops.notify.background`). Secrets never appear in any of
them: payloads are stored without them and errors are scrubbed.
"""

from __future__ import annotations

import enum
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

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
    from sqlalchemy.engine import Engine

    from ops.incidents.models import Notification
    from ops.notify.delivery import DeliveryReport

app = typer.Typer(
    help="Incident notifications (PagerDuty, Slack): flush, serve and list the outbox.", no_args_is_help=True
)


class StatusChoice(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


STATUS_STYLE = {"pending": "yellow", "sending": "cyan", "sent": "green", "failed": "bold red"}


def _engine() -> Engine:
    from ops.incidents.db import open_engine, store_url

    return open_engine(store_url(load_settings().home))


WideOption = Annotated[
    bool,
    typer.Option("--wide", help="Also show when each notification is next tried (or was sent) on a narrow terminal."),
]


def _report_table(report: DeliveryReport, *, wide: bool) -> None:
    print_fitted(
        [
            number("ID"),
            key("Incident"),
            key("Channel"),
            key("Action"),
            key("Status"),
            number("Requests"),
            key("Next attempt", wide=True),
            text("Error"),
        ],
        [
            [
                cell(o.id),
                cell(o.incident),
                cell(o.channel),
                cell(o.action),
                Text(o.status, style=STATUS_STYLE.get(o.status, "")),
                cell(o.requests),
                cell(o.next_attempt_at),
                cell(o.error),
            ]
            for o in report.notifications
        ],
        wide=wide,
    )


@app.command("flush")
@with_cli_exception_handling
def flush(
    *,
    due_only: Annotated[
        bool, typer.Option("--due-only", help="Only notifications whose next attempt is due (as automatic flushes do).")
    ] = False,
    wide: WideOption = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Send the pending notifications now; exits 1 when some could not be delivered (they stay queued)."""
    import logging

    from rich.logging import RichHandler

    from ops.notify.delivery import deliver_pending

    if output is OutputFormat.TABLE:
        logging.getLogger("ops.notify").addHandler(RichHandler(show_path=False, show_time=False))
    report = deliver_pending(_engine(), due_only=due_only)
    if output is OutputFormat.JSON:
        print_json(report)
    elif report.notifications:
        _report_table(report, wide=wide)
    note(
        f"{report.sent} sent, {report.pending} still pending, {report.failed} failed, {report.waiting} waiting",
        output=output,
    )
    if report.pending or report.failed:
        note(
            "undelivered notifications stay in the outbox: `ops notify list --status pending` shows why, "
            "and the next flush tries again",
            output=output,
            style="yellow",
        )
        raise typer.Exit(1)


@app.command("serve")
@with_cli_exception_handling
def serve(
    *,
    until_empty: Annotated[
        bool, typer.Option("--until-empty", help="Exit once nothing is left to send, instead of waiting for more.")
    ] = False,
) -> None:
    """Deliver notifications in the foreground until stopped (SIGTERM, Ctrl-C), with retries and Retry-After.

    For a service manager. While it runs, incident changes on this host start
    no background deliverer; it waits for one that is still running to finish.
    """
    import logging
    import signal
    import threading

    from rich.logging import RichHandler

    from ops.notify.background import DelivererLock
    from ops.notify.background import serve as run

    engine, settings, stop = _engine(), load_settings().notify, threading.Event()
    logger = logging.getLogger("ops.notify")
    logger.addHandler(RichHandler(show_path=False))
    logger.setLevel(logging.INFO)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    lock = DelivererLock.of(engine.url, settings)
    try:
        while not lock.acquire():  # a background deliverer is at work: take over once it is done
            if stop.wait(settings.notify_poll_seconds):
                return
        try:
            report = run(engine, settings, until_empty=until_empty, stop=stop)
        finally:
            lock.release()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    note(f"{report.sent} sent, {report.failed} failed in {report.passes} passes")


def _row(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "incident": f"INC-{n.incident_id}",
        "channel": n.channel,
        "action": n.action,
        "status": n.status,
        "attempts": n.attempts,
        "next_attempt_at": n.next_attempt_at,
        "last_error": n.last_error,
        "external_ref": n.external_ref,
        "created_at": n.created_at,
        "sent_at": n.sent_at,
        "payload": json.loads(n.payload),
    }


@app.command("list")
@with_cli_exception_handling
def list_notifications(
    *,
    status: Annotated[
        StatusChoice | None, typer.Option("--status", case_sensitive=False, help="Only notifications with this status.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    wide: WideOption = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List the outbox, newest first: what was sent, what is pending and why."""
    from ops.incidents.db import transaction
    from ops.notify.outbox import list_notifications as query

    with transaction(_engine()) as session:
        rows = [_row(n) for n in query(session, [status.value] if status else [], limit=limit)]
    if output is OutputFormat.JSON:
        print_json(rows)
        return
    if not rows:
        note("no notifications" + (f" with status {status.value}" if status else ""), style="green")
        return
    listed = []
    for r in rows:
        when = r["sent_at"] if r["status"] == "sent" else r["next_attempt_at"] if r["status"] == "pending" else None
        listed.append(
            [
                cell(r["id"]),
                cell(r["incident"]),
                cell(r["channel"]),
                cell(r["action"]),
                Text(r["status"], style=STATUS_STYLE.get(r["status"], "")),
                cell(r["attempts"]),
                cell(when),
                cell(r["last_error"]),
            ]
        )
    print_fitted(
        [
            number("ID"),
            key("Incident"),
            key("Channel"),
            key("Action"),
            key("Status"),
            number("Attempts"),
            key("Sent / next attempt", wide=True),
            text("Last error"),
        ],
        listed,
        wide=wide,
    )
