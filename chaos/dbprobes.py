"""Probes of the database drills: the lake equals the source table, row by row.

Every probe returns ``{"status": "held" | "broken", "detail": ...}`` like
:mod:`chaos.probes` (whose ``outcome``, ``alerting`` and ``rule_alerting``
database drills use as they are).

:func:`conservation` judges the lake against the source table itself
(:mod:`chaos.parity`): once a completed run started after the drill's last
write, the lake must hold exactly the table (every key, every contract
column, each key or change once). Before that the lake may be behind (the
application writes on), but it may never hold a key or a change twice;
after the method, behind is broken too. Once a breaking schema change
stopped the capture, the lake must equal the table as it was just before the
change, and the slot must still hold the changes from there on.
"""

from __future__ import annotations

from typing import Any

from chaos.database import DrillDatabase, ensure_database
from chaos.dbruns import run_capture, run_table
from chaos.drill import Drill, Phase, current
from chaos.parity import Parity, Via, lake_parity
from chaos.probes import _verdict

PENDING = (Phase.SETUP, Phase.BEFORE, Phase.METHOD)


def _caught_up(drill: Drill, db: DrillDatabase) -> bool:
    last = db.frozen_write_at if db.frozen is not None else db.last_write_at
    done = [r for r in drill.runs if r.completed]
    return last is None or bool(done and done[-1].started_at > last)


def _parity(drill: Drill, db: DrillDatabase, via: Via) -> Parity:
    stack = drill.stack
    source = db.frozen if db.frozen is not None else db.rows()
    return lake_parity(db.contract, str(stack.lake_root), via, source)


def _slot_kept(db: DrillDatabase) -> tuple[bool, str]:
    _, pending = db.slot_state()
    if pending:
        return True, f"; the slot still holds {pending} change row(s) from the breaking change on"
    return False, "; but the slot holds nothing past the breaking change: those changes are lost"


def conservation(via: str = "changes", configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The lake equals the source table (``via``: ``table`` for ingest-table, ``changes`` for change capture)."""
    import psycopg

    drill = current()
    db = ensure_database(drill.stack)
    pending = drill.phase in PENDING
    try:
        parity = _parity(drill, db, Via(via))
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        later = "; checked again later" if pending else ""
        return _verdict(pending, f"the source cannot be read now ({first}){later}")
    facts = {"source_rows": parity.source_rows, "lake_rows": parity.lake_rows}
    if parity.held:
        detail, held = parity.summary(), True
        if db.frozen is not None:
            held, more = _slot_kept(db)
            detail += more
        return _verdict(held, detail, **facts)
    if parity.duplicates or not pending or _caught_up(drill, db):
        return _verdict(False, parity.summary(), **facts)
    return _verdict(
        True, f"{parity.where} is behind the source while it is written to: the next run catches up", **facts
    )


def _clean(drill: Drill, db: DrillDatabase, via: Via, run: Any) -> dict[str, Any]:
    if not run.completed:
        return _verdict(False, f"the next normal run ended {run.state}: {run.message[:300]}", state=run.state)
    parity = _parity(drill, db, via)
    return _verdict(parity.held, f"the next normal run completed; {parity.summary()}", state=run.state)


def next_table_run_is_clean(rows: int = 500, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Recovery: after the rollbacks, new orders and a normal ``ingest-table`` run leave the lake equal to the table."""
    drill = current()
    db = ensure_database(drill.stack)
    db.insert(rows)
    return _clean(drill, db, Via.TABLE, run_table(drill, label="recovery"))


def next_capture_is_clean(rows: int = 300, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Recovery: after the rollbacks, a round of changes and a normal capture leave the lake equal to the table."""
    drill = current()
    db = ensure_database(drill.stack)
    db.write_round(rows)
    return _clean(drill, db, Via.CHANGES, run_capture(drill, label="recovery"))
