"""Actions of the database drills: Chaos Toolkit Python providers on the drill's PostgreSQL source.

Like :mod:`chaos.actions`, each works on the drill in progress and returns a
small dict for the journal; an action that cannot do its job raises (and fails
the drill); *faults* stamp the moment the first fault went in.

- writes: :func:`write_orders`, :func:`write_changes`, :func:`keep_writing` (run it in the background);
- runs: :func:`ingest_table` (the ``ingest-table`` flow), :func:`capture_changes` (``capture-changes``);
- faults: :func:`kill_snapshot_sessions`, :func:`restart_database`, :func:`stall_capture`,
  :func:`add_column`, :func:`drop_column`;
- rollback: :func:`database_up`.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from chaos.actions import fault
from chaos.database import DrillDatabase, Writer, ensure_database
from chaos.dbruns import run_capture, run_table
from chaos.drill import current
from ops.errors import ChaosError


def _db() -> DrillDatabase:
    return ensure_database(current().stack)


def write_orders(rows: int, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Insert ``rows`` new orders into the source table, in one transaction."""
    if rows < 1:
        raise ChaosError(f"cannot write {rows} row(s)", hint="rows: 1 or more")
    return {"detail": f"{_db().insert(rows):,} new orders in the source table", "rows": rows}


def write_changes(rounds: int = 1, rows: int = 300, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """``rounds`` rounds of ``rows`` inserts, each followed by updates and deletes among them."""
    if rounds < 1 or rows < 1:
        raise ChaosError(f"cannot write {rounds} round(s) of {rows} row(s)", hint="rounds and rows: 1 or more")
    db = _db()
    made = sum(db.write_round(rows) for _ in range(rounds))
    return {"detail": f"{made:,} row changes in {rounds} round(s) of {rows} inserts", "changes": made}


def keep_writing(
    seconds: float, every_seconds: float = 0.02, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An application writing small transactions for ``seconds`` (run it in the background)."""
    writer = Writer(_db(), every_seconds).start()
    time.sleep(seconds)
    written = writer.stop()
    return {
        "detail": f"{written:,} transaction(s) in {seconds:g} s; {writer.refused} refused (server away)",
        "written": written,
        "refused": writer.refused,
    }


def ingest_table(label: str, mode: str = "snapshot", configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``ingest-table`` over the source table once; a failed flow run is an outcome, not an action failure."""
    return run_table(current(), label=label, mode=mode).to_dict()


def capture_changes(
    label: str, follow_seconds: float = 0.0, batch_changes: int = 2_000, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run ``capture-changes`` on the drill's slot once (drain it, or follow it ``follow_seconds``)."""
    return run_capture(current(), label=label, follow_seconds=follow_seconds, batch_changes=batch_changes).to_dict()


def _reading(queries: list[str]) -> bool:
    """A range reader of a snapshot is at work: it joined the exported snapshot or copies rows out."""
    return any("SET TRANSACTION SNAPSHOT" in q.upper() or q.upper().startswith("COPY") for q in queries)


@fault
def kill_snapshot_sessions(timeout: float = 60, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Once a snapshot is exported and its readers read, ``pg_terminate_backend`` every ``sluice`` session.

    Run it in the background, before the run it hurts.
    """
    db = _db()
    seen = db.watch(_reading, timeout)
    if not seen:
        raise ChaosError(
            f"no snapshot reader within {timeout:g} s", hint="the run never got that far: see its flow run"
        )
    killed = db.terminate_sessions()
    if not killed:
        raise ChaosError("the snapshot's sessions were gone before they could be killed", hint="write more rows")
    queries = sorted({q.split()[0].upper() for q in seen if q.strip()})
    return {
        "detail": f"terminated {len(killed)} sluice session(s) mid-snapshot (were running {', '.join(queries)})",
        "killed": killed,
    }


@fault
def restart_database(
    after_seconds: float = 1.0, timeout: float = 60, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``after_seconds`` after a Sluice session connects, restart the server (fast: every session is cut).

    Run it in the background, before the run it hurts.
    """
    db = _db()
    if not db.watch(bool, timeout, poll_s=0.05):
        raise ChaosError(
            f"no sluice session within {timeout:g} s", hint="the capture never connected: see its flow run"
        )
    time.sleep(after_seconds)
    clock = time.monotonic()
    db.restart()
    return {"detail": f"PostgreSQL restarted ({time.monotonic() - clock:.1f} s) under a running capture"}


@fault
def stall_capture(
    rule: str = "cdc-slot-lag-bytes",
    threshold: float = 262_144,
    window: str = "4s",
    rows: int = 300,
    every_seconds: float = 1.0,
    timeout: float = 45,
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The capture stops consuming while the application writes on, until ``rule`` rings (or ``timeout``).

    Every ``every_seconds``: a round of ``rows`` changes, the slot's lag sampled
    into the drill's metric store, and ``rule`` (scaled to the drill:
    :func:`chaos.alerts.scaled_rule`) evaluated; a firing rule opens a drill
    incident linking its runbook.
    """
    from chaos.alerts import evaluate, sample_slot_lag, scaled_rule

    drill, db = current(), _db()
    rules = scaled_rule(rule, threshold=threshold, window=window)
    clock, samples = time.monotonic(), 0
    while time.monotonic() - clock < timeout:
        db.write_round(rows)
        now = datetime.now(timezone.utc)
        samples += sample_slot_lag(drill.stack, db.capture_dsn(), now=now)
        if rule in evaluate(drill, rules, now=now).firing:
            return {
                "detail": f"{rule} rang after {time.monotonic() - clock:.1f} s of a stalled capture "
                f"({samples} lag sample(s), threshold {threshold:g} over {window})",
                "samples": samples,
            }
        time.sleep(every_seconds)
    raise ChaosError(f"{rule} did not ring in {timeout:g} s of a stalled capture", hint="write more, or wait longer")


@fault
def add_column(
    column: str, type: str = "text", value: str = "drill", every: int = 5, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An additive change: ``ALTER TABLE ADD COLUMN``, then a value in it for every ``every``-th order."""
    db = _db()
    db.alter(f"ADD COLUMN {_ident(column)} {_ident(type)}")
    with db.connect() as conn:
        filled = conn.execute(
            f"UPDATE {db.table} SET {_ident(column)} = %s WHERE order_id %% %s = 0",
            (value, every),
        ).rowcount
    db.last_write_at = datetime.now(timezone.utc)
    return {"detail": f"added column {column} {type}; {filled} row(s) hold {value!r}", "filled": filled}


@fault
def drop_column(column: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """A breaking change: ``ALTER TABLE DROP COLUMN`` of a contract column (the source is frozen for the judge)."""
    db = _db()
    if column not in db.contract.column_names:
        raise ChaosError(f"{column!r} is not a column of the {db.table} contract", hint="drop a contract column")
    frozen = db.freeze()
    db.alter(f"DROP COLUMN {_ident(column)}")
    return {"detail": f"dropped contract column {column} ({len(frozen):,} row(s) before it)", "rows": len(frozen)}


def database_up(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rollback: the drill's server accepts connections again (started if a fault left it down)."""
    import psycopg

    drill = current()
    if not drill.has_stack or drill.stack.database is None:
        return {"detail": "no database source to bring back"}
    db: DrillDatabase = drill.stack.database
    try:
        with db.connect(application="drill-rollback") as conn:
            conn.execute("SELECT 1")
        return {"detail": "the source database accepts connections"}
    except psycopg.OperationalError:
        db.server.start()
        return {"detail": "the source database was down: started again"}


def _ident(name: str) -> str:
    import re

    if not re.fullmatch(r"[a-z_][a-z0-9_ ()]*", name):
        raise ChaosError(f"{name!r} is not a plain lower-case name or type", hint="e.g. gift_note, text, bigint")
    return name
