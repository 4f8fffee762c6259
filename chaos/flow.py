"""Flow ``chaos-drill``: run chaos experiments against one environment and report their verdicts.

Deployed from ``prefect.yaml`` to run the whole suite (``chaos/experiments``)
weekly against staging, tagged ``chaos-drill``. Each drill's journal is stored
with the incident store and attached to this flow run as a markdown artifact
(``<env>-drill-<id>-<experiment>``). The run fails when a drill fails or aborts: a
weakness was found, and the failure hook opens a drill-flagged incident
(which pages no one unless ``SLUICE_CHAOS_PAGE=true``).
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow, get_run_logger

from flows.hooks import INCIDENT_HOOKS
from ops.errors import ChaosError


class DrillsFailed(ChaosError):
    """At least one drill of the run failed or was aborted."""


@dataclass(frozen=True)
class DrillSummary:
    drill_id: str
    experiment: str
    status: str
    score: float | None
    summary: str
    incidents: list[str]


@flow(name="chaos-drill", log_prints=False, **INCIDENT_HOOKS)
def chaos_drill(
    experiments: list[str] | None = None, env: str = "staging", override_blast_radius: bool = False
) -> list[DrillSummary]:
    """Run ``experiments`` (names in the suite or files; all of the suite by default) one after the other in ``env``.

    The drills share one Dask cluster (``SLUICE_DASK_ADDRESS``, or a local one).
    A drill refused by the blast-radius guard fails the run before it touches anything. A host that
    lacks what any of the drills needs (the ``chaos`` extra, a tmpfs for the disk drill) fails the run
    with a ``ConfigError`` before the first drill begins: no drill is run or journalled.
    """
    from chaos.experiment import load, suite
    from chaos.prerequisites import ensure_prerequisites
    from chaos.runner import run_drill
    from chaos.stack import shared_cluster

    names = experiments or [p.stem for p in suite()]
    for name in names:
        ensure_prerequisites(load(name))
    log = get_run_logger()
    summaries = []
    with shared_cluster():
        for name in names:
            result = run_drill(name, env, override=override_blast_radius)
            log.info("drill %s (%s): %s", result.drill_id, name, result.summary)
            summaries.append(
                DrillSummary(
                    result.drill_id, result.experiment, result.status, result.score, result.summary, result.incidents
                )
            )
    weak = [s for s in summaries if s.status != "passed"]
    if weak:
        raise DrillsFailed(
            f"{len(weak)} of {len(summaries)} drill(s) did not pass: "
            + "; ".join(f"{s.experiment} {s.status}" for s in weak),
            hint=f"ops chaos report --last {len(summaries)}",
        )
    return summaries


if __name__ == "__main__":
    for summary in chaos_drill():
        print(summary)
