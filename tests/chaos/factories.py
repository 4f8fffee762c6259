"""Small experiments for the runner's own tests, written as real Chaos Toolkit YAML files; drills without a stack."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from chaos import drill as drills
from chaos.drill import Drill
from chaos.experiment import load
from ops.alerts.events import AlertStatus
from ops.incidents.db import open_engine, store_url
from ops.respond.sink import DrillFlag, IncidentSink
from sluice.runs.metastore import engine_for, save_run
from sluice.runs.records import RunReport
from sluice.settings import get_settings
from tests.ops.alerts.factories import alert_event

PROVIDERS = "tests.chaos.providers"


def activity(kind: str, label: str, func: str, *, module: str = PROVIDERS, **arguments: Any) -> dict[str, Any]:
    """A probe (tolerance ``[held]``) or action calling ``module.func(**arguments)``."""
    found: dict[str, Any] = {
        "type": kind,
        "name": label,
        "provider": {"type": "python", "module": module, "func": func},
    }
    if arguments:
        found["provider"]["arguments"] = arguments
    if kind == "probe":
        found["tolerance"] = ["held"]
    return found


def action(label: str, func: str = "record", **arguments: Any) -> dict[str, Any]:
    """An action; ``record`` (the default) just logs its name in ``providers.CALLS``."""
    if func in ("record", "fail", "raise_flag") and "name" not in arguments:
        arguments["name"] = label
    return activity("action", label, func, **arguments)


def write_experiment(
    folder: Path,
    name: str = "drill",
    *,
    method: list[dict[str, Any]] | None = None,
    rollbacks: list[dict[str, Any]] | None = None,
    probes: list[dict[str, Any]] | None = None,
    guards: list[dict[str, Any]] | None = None,
    recovery: list[dict[str, Any]] | None = None,
    environments: tuple[str, ...] = ("dev", "staging"),
    **overrides: Any,
) -> Path:
    """An experiment file: by default a steady state that holds, one recorded step and one recorded rollback."""
    data: dict[str, Any] = {
        "title": f"{name} drill",
        "description": "A drill of the runner's own tests.",
        "controls": [{"name": "sluice-drill", "provider": {"type": "python", "module": "chaos.control"}}],
        "extensions": [
            {
                "name": "sluice",
                "targets": ["ingest-flow"],
                "environments": list(environments),
                "guards": guards or [],
                "recovery": recovery or [],
            }
        ],
        "steady-state-hypothesis": {
            "title": "the flag is down",
            "probes": probes
            if probes is not None
            else [activity("probe", "conservation-flag-down", "flag_down", flag="broken")],
        },
        "method": method if method is not None else [action("step-one")],
        "rollbacks": rollbacks if rollbacks is not None else [action("undo")],
    } | overrides
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def begun_drill(root: Path, experiment: str = "duplicate-delivery") -> Drill:
    """The drill in progress, on a stand-in stack: its folder (metrics, alert state, run records) but no servers."""
    found = Drill(load(experiment), get_settings().env)
    root.mkdir(parents=True, exist_ok=True)
    found._stack = SimpleNamespace(
        root=root,
        dataset="orders",
        metadata_url=f"sqlite:///{root / 'sluice.db'}",
        lake_uri=str(root / "lake" / "orders"),
        quarantine_uri=str(root / "quarantine"),
        apis={},
        close=lambda: None,
    )
    return drills.begin(found)


def drill_run(
    drill: Drill, finished_at: datetime, *, rows_read: int = 1500, rows_duplicate: int = 30, rows_quarantined: int = 45
) -> RunReport:
    """A completed run in the drill's run records, as its ingestion would have recorded it."""
    report = RunReport(
        run_id=f"run-{finished_at.timestamp():.0f}",
        dataset=drill.stack.dataset,
        source=f"s3://drill-{drill.id}/incoming",
        env=get_settings().env,
        started_at=finished_at,
        finished_at=finished_at,
        status="completed",
        rows_read=rows_read,
        rows_written=rows_read - rows_duplicate - rows_quarantined,
        rows_quarantined=rows_quarantined,
        rows_duplicate=rows_duplicate,
    )
    engine = engine_for(drill.stack.metadata_url)
    with engine.begin() as conn:
        save_run(conn, report)
    engine.dispose()
    return report


def drill_alert(drill_id: str | None, at: datetime, *, status: AlertStatus = AlertStatus.FIRING, **event: Any) -> None:
    """An alert transition into the environment's incident store: the drill's (``drill_id``) or a real one."""
    sink = IncidentSink(
        open_engine(store_url(get_settings().home)), get_settings().env, DrillFlag(drill_id) if drill_id else None
    )
    sink.emit(alert_event(at, status=status, **event))
