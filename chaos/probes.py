"""Sluice's probes: Chaos Toolkit Python providers that judge the drill's hypotheses.

Every probe returns ``{"status": "held" | "broken", "detail": "...", ...}``, so
an experiment states its tolerance as ``tolerance: [held]``. Probes read the
drill in progress (:func:`chaos.drill.current`) and the drill's stack; they
never go through the fault proxies.

- :func:`conservation`: every source row exactly once in the lake or the quarantine.
- :func:`outcome`: every ingestion run of the method ended as expected:
  ``completed`` (after retries), or ``failed-with-incident`` (failed, with a
  drill incident open for it).
- :func:`alerting`: each failed run's incident links the right runbook, in time.
- :func:`rule_alerting`: an alert rule evaluated on the drill's stack opened an
  incident linking the right runbook, in time.
- :func:`next_run_is_clean`: the recovery check, run after the rollbacks.
- :func:`lake_written_only_by_drill`: a guard; the drill's lake has no writer but the drill.
- :func:`correlation`: each drill incident's ``ops correlate`` ranks the injected resource first.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from chaos.census import take_census
from chaos.drill import Drill, Phase, current
from chaos.ingestion import RunOutcome, ingest
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.models import Incident, Status
from sluice.settings import get_settings

if TYPE_CHECKING:
    from chaos.alerts import AlertExpectation

COMPLETED, FAILED_WITH_INCIDENT, KILLED = "completed", "failed-with-incident", "killed"


def _verdict(held: bool, detail: str, **facts: Any) -> dict[str, Any]:
    return {"status": "held" if held else "broken", "detail": detail, **facts}


def _required(drill: Drill) -> set[str]:
    """Files the latest completed run saw at the source: each of their rows must be accounted for."""
    done = [r for r in drill.runs if r.completed]
    return set(done[-1].sources) if done else set()


def conservation(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every source row ends up exactly once in the lake or the quarantine (counted from the source)."""
    drill = current()
    census = take_census(drill.stack, required=_required(drill))
    return census.to_output()


def _incident_check(run: RunOutcome, runbook: str | None = None) -> tuple[bool, str, float | None]:
    """Whether ``run`` has a drill incident (with ``runbook``), and how long after the fault it was raised."""
    from chaos.incidents import incident_for_run, triggered_at

    drill = current()
    with transaction(open_engine(store_url(get_settings().home))) as session:
        incident = incident_for_run(session, run)
        if incident is None:
            return False, f"run {run.label} ended {run.state} and no drill incident is open for it", None
        if incident.status is Status.RESOLVED:
            return False, f"{incident.ref} for run {run.label} is already resolved", None
        start = drill.fault_started_at or run.started_at
        delay = (triggered_at(incident, run) - start).total_seconds()
        if runbook is not None and incident.runbook_id != runbook:
            return False, f"{incident.ref} links runbook {incident.runbook_id}, not {runbook}", delay
        return True, f"{incident.ref} ({incident.runbook_id}) {delay:.1f} s after the fault", delay


def outcome(expect: dict[str, list[str]] | None = None, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every run of the method ended Completed, or failed with an incident open; ``expect`` narrows it per run.

    A run whose process the drill SIGKILLed passes only where ``expect`` allows ``killed`` for its label.
    """
    drill = current()
    runs = drill.method_runs()
    if not runs:
        return _verdict(True, "no run yet")
    problems: list[str] = []
    seen: list[str] = []
    for run in runs:
        allowed = (expect or {}).get(run.label, [COMPLETED, FAILED_WITH_INCIDENT])
        if run.completed:
            ok, what = COMPLETED in allowed, f"{run.label}: Completed"
        elif run.killed:
            ok, what = KILLED in allowed, f"{run.label}: killed by the drill"
        else:
            has_incident, why, _ = _incident_check(run)
            ok, what = FAILED_WITH_INCIDENT in allowed and has_incident, f"{run.label}: {run.state} ({why})"
        seen.append(what)
        if not ok:
            problems.append(f"{what}, expected {' or '.join(allowed)}")
    return _verdict(not problems, "; ".join(problems or seen), runs=len(runs))


def alerting(
    runbook: str, within_seconds: float = 120.0, required: bool = False, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Each failed run of the method has an incident linking ``runbook`` within ``within_seconds`` of the fault.

    With ``required``, the fault must fail a run: once the method is over,
    no failed run means the alarm that should have rung did not.
    """
    drill = current()
    failed = [r for r in drill.method_runs() if r.failed and not r.killed]
    if not failed:
        pending = drill.phase in (Phase.SETUP, Phase.BEFORE, Phase.METHOD)
        if required and not pending:
            return _verdict(False, "no run failed, so nothing alerted; this fault must fail the run")
        return _verdict(True, "no run failed: nothing to alert" if not pending else "no failure yet")
    problems: list[str] = []
    seen: list[str] = []
    for run in failed:
        ok, why, delay = _incident_check(run, runbook)
        if ok and delay is not None and delay > within_seconds:
            ok, why = False, f"{why}: later than {within_seconds:.0f} s"
        (seen if ok else problems).append(f"{run.label}: {why}")
    return _verdict(not problems, "; ".join(problems or seen), runbook=runbook, within_seconds=within_seconds)


def _alert_problem(incident: Incident, expect: AlertExpectation, start: datetime) -> tuple[bool, str]:
    delay = (incident.opened_at - start).total_seconds()
    what = f"{incident.ref} ({incident.runbook_id}) {delay:.1f} s after the fault"
    if incident.runbook_id != expect.runbook:
        return False, f"{incident.ref} links runbook {incident.runbook_id}, not {expect.runbook}"
    if delay > expect.within_seconds:
        return False, f"{what}: later than {expect.within_seconds:.0f} s"
    return True, what


def rule_alerting(
    rule: str,
    runbook: str,
    within_seconds: float = 120.0,
    required: bool = True,
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Alert rule ``rule``, evaluated on the drill's stack, opened a drill incident linking ``runbook`` in time.

    The delay runs from the first fault to the incident's opening. With
    ``required``, once the method is over, no incident of the rule means the
    alarm that should have rung did not.
    """
    from chaos.alerts import ensure_expectation
    from chaos.incidents import alert_incidents

    expect = ensure_expectation(rule=rule, runbook=runbook, within_seconds=within_seconds, required=required)
    drill = current()
    start = drill.fault_started_at or drill.started_at
    with transaction(open_engine(store_url(get_settings().home))) as session:
        checks = [_alert_problem(i, expect, start) for i in alert_incidents(session, drill, expect.rule)]
    facts = {"rule": expect.rule, "runbook": expect.runbook, "within_seconds": expect.within_seconds}
    if not checks:
        pending = drill.phase in (Phase.SETUP, Phase.BEFORE, Phase.METHOD)
        if expect.required and not pending:
            return _verdict(False, f"alert rule {rule} opened no drill incident; this fault must ring it", **facts)
        return _verdict(True, f"alert rule {rule} " + ("has not fired yet" if pending else "did not fire"), **facts)
    problems = [why for ok, why in checks if not ok]
    return _verdict(not problems, "; ".join(problems or [why for _, why in checks]), **facts)


def next_run_is_clean(rows: int = 300, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Recovery: after the rollbacks, a new batch and a normal run complete with every row accounted for."""
    from chaos import source

    drill = current()
    source.deliver_orders(drill.stack, rows=rows, files=1, seed=99, name="recovery")
    run = ingest(drill, label="recovery")
    if not run.completed or run.files_failed:
        return _verdict(False, f"the next normal run ended {run.state}: {run.message[:300]}", state=run.state)
    census = take_census(drill.stack, required=set(run.sources))
    return _verdict(census.held, f"the next normal run completed; {census.summary()}", state=run.state)


def lake_written_only_by_drill(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Guard: every commit to the drill's lake (its API datasets too) and quarantine came from the drill's runs."""
    from sluice.errors import LakeError
    from sluice.lake.log import history
    from sluice.lake.table import table_uri

    drill = current()
    ours = {r.flow_run_id for r in drill.runs if r.flow_run_id}
    strangers = []
    stack = drill.stack
    api_tables = [table_uri(str(stack.lake_root), api.dataset) for api in stack.apis.values()]
    for uri in (stack.lake_uri, stack.quarantine_uri, *api_tables):
        try:
            entries = history(uri)
        except LakeError:
            continue  # not written yet
        strangers += [
            f"{uri} v{e.version} by {e.run_id or e.operation}"
            for e in entries
            if e.run_id not in ours and not (e.run_id is None and e.operation == "CREATE TABLE")
        ]
    if strangers:
        return _verdict(False, "someone else writes the drill's lake: " + "; ".join(strangers[:3]))
    return _verdict(True, "only the drill's runs wrote the lake")


def correlation(resource: str, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Once the method is over, ``ops correlate`` on each drill incident ranks a ``resource`` series first
    (``worker``: a series of a worker process, labelled ``worker``; of the worker the drill killed, if it did).

    The results go on the incidents' timelines (:mod:`chaos.correlation`). No incident means there is
    nothing to correlate: the fault should have opened one.
    """
    from chaos.correlation import correlate_incidents

    drill = current()
    if drill.phase in (Phase.SETUP, Phase.BEFORE, Phase.METHOD):
        return _verdict(True, "the method is not over: nothing to correlate yet", resource=resource)
    with transaction(open_engine(store_url(get_settings().home))) as session:
        found = correlate_incidents(session, drill)
    if not found:
        return _verdict(False, "no drill incident to correlate; the fault should have opened one", resource=resource)
    killed = frozenset(drill.stack.killed_workers) if drill.has_stack else frozenset()
    wrong = [f for f in found if not f.names(resource, killed)]
    said = "; ".join(f.summary() for f in (wrong or found))
    return _verdict(not wrong, said, resource=resource, top=[f.top for f in found])
