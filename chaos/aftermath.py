"""After a drill: judge it, write it on its incidents' timelines, store its journal, attach it to the flow run.

Incidents are the incident store's; the journal is the chaos store's
(:mod:`chaos.store`). Each part is independent and guarded, so a store that is down does not keep
the verdict from the journal nor the artifact from the flow run; what failed
is listed in ``journal["sluice"]["errors"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chaos.drill import Drill, Phase
from chaos.verdicts import Judgement, judge

logger = logging.getLogger(__name__)


def _guarded(journal: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        logger.exception("drill %s: %s failed", journal.get("sluice", {}).get("drill_id"), name)
        journal["sluice"]["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
        return None


def _engine() -> Any:
    from ops.incidents.db import open_engine, store_url
    from sluice.settings import get_settings

    return open_engine(store_url(get_settings().home))


def _timelines(drill: Drill, judgement: Judgement) -> list[str]:
    from chaos.incidents import drill_incidents, loop_of, record_drill
    from ops.incidents.db import transaction

    with transaction(_engine()) as session:
        found = drill_incidents(session, drill)
        for incident in found:
            record_drill(session, incident, drill, judgement.summary())
        drill.loops = [loop_of(incident, drill) for incident in found]
        return [i.ref for i in found]


def _store(drill: Drill, journal: dict[str, Any], judgement: Judgement) -> None:
    from chaos.journal import save_drill
    from chaos.store import open_chaos_engine
    from ops.incidents.db import transaction

    with transaction(open_chaos_engine()) as session:
        save_drill(session, drill=drill, journal=journal, judgement=judgement, incidents=drill.incidents)


def _flow_run_id() -> str | None:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return str(context.flow_run.id) if context is not None and context.flow_run is not None else None


def _artifact(drill: Drill, judgement: Judgement) -> None:
    """The drill's report on its flow run, keyed ``<env>-drill-<id>-<experiment>``, its summary whole."""
    from uuid import UUID

    from chaos.report import drill_markdown
    from tasks.artifacts import RunArtifacts, scope_of

    if drill.flow_run_id is None:
        return
    artifacts = RunArtifacts(UUID(drill.flow_run_id), scope_of(drill.environment, [drill.tag]))
    artifacts.markdown(
        drill_markdown(drill, judgement, drill.incidents, drill.loops),
        key=artifacts.key(drill.experiment.name),
        description=f"Chaos drill {drill.id}: {judgement.summary()}",
    )


def conclude(
    drill: Drill, experiment: dict[str, Any], journal: dict[str, Any], recovery: list[dict[str, Any]]
) -> Judgement:
    """Judge the drill, then record it everywhere it belongs; return the judgement."""
    judgement = judge(experiment, journal, drill.experiment.extension, recovery)
    drill.judgement = judgement
    drill.flow_run_id = drill.flow_run_id or _guarded(journal, "flow run", _flow_run_id)
    journal["sluice"].update(
        judgement.to_dict(),
        environment=drill.environment,
        experiment=drill.experiment.name,
        steps=[
            {
                "phase": s.phase.value,
                "name": s.name,
                "type": s.type,
                "status": s.status,
                "started_at": s.started_at.isoformat(),
                "detail": s.detail,
            }
            for s in drill.steps
        ],
        runs=[r.to_dict() for r in drill.runs],
    )
    drill.incidents = _guarded(journal, "incident timelines", lambda: _timelines(drill, judgement)) or []
    journal["sluice"]["incidents"] = drill.incidents
    _guarded(journal, "journal store", lambda: _store(drill, journal, judgement))
    _guarded(journal, "flow run artifact", lambda: _artifact(drill, judgement))
    drill.phase = Phase.DONE
    drill.emit(
        "finished", drill.experiment.name, judgement.status.value, judgement.summary(), judgement=judgement.to_dict()
    )
    return judgement
