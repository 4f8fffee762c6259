"""Running a drill: validate, clear the blast radius, run the experiment with Sluice's settings, report.

:func:`run_drill` is what ``ops chaos run`` and the ``chaos-drill`` flow call.
It runs the experiment with ``chaoslib.experiment.run_experiment`` and:

- the rollback strategy ``always`` (``runtime.rollbacks.strategy``): rollbacks run
  after a deviation, a failed action or an abort too;
- ``Strategy.CONTINUOUS`` with a :class:`~chaoslib.types.Schedule`: the steady-state
  hypothesis is checked before, during (every ``SLUICE_CHAOS_PROBE_SECONDS``) and
  after the method.

The ``chaos.control`` control declared by every experiment does the rest
(guards, recovery, verdicts, journal, artifact). Before a drill begins, the
host is checked for what it needs (:mod:`chaos.prerequisites`). :func:`plan` is
the dry run: the same checks, and the steps that would run.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import drill as drills
from chaos.drill import Drill, Listener
from chaos.experiment import Experiment, load
from chaos.guard import Clearance, ensure_blast_radius
from chaos.prerequisites import Missing, ensure_prerequisites, unmet
from ops.errors import ChaosError
from sluice.settings import get_settings

RUNTIME = {"runtime": {"rollbacks": {"strategy": "always"}}}
_listeners: list[Listener] = []
logging.getLogger("chaostoolkit").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class DrillResult:
    """The outcome of one drill: its status, score, verdicts, incidents and journal."""

    drill_id: str
    experiment: str
    title: str
    environment: str
    status: str
    score: float | None
    summary: str
    verdicts: list[dict[str, Any]]
    incidents: list[str]
    journal: dict[str, Any] = field(repr=False)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class PlannedStep:
    phase: str
    name: str
    type: str
    background: bool = False


@dataclass(frozen=True)
class DrillPlan:
    """What a drill would do (``--dry-run``): cleared to run, touching these targets, in these steps.

    ``missing`` lists the prerequisites this host lacks (:mod:`chaos.prerequisites`); the drill runs only
    when it is empty.
    """

    experiment: str
    title: str
    environment: str
    overridden: bool
    targets: list[str]
    steps: list[PlannedStep]
    missing: list[Missing] = field(default_factory=list)


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send the events of every drill started in the block to ``listener`` (the live view)."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def clear(experiment: Experiment, env: str, *, override: bool) -> Clearance:
    """The blast-radius clearance for ``experiment`` in ``env`` (raises ``ChaosError`` when refused)."""
    return ensure_blast_radius(
        experiment.extension,
        env,
        process_env=get_settings().env,
        allowed=get_settings().chaos.environments,
        override=override,
        experiment=experiment.name,
    )


def plan(experiment: str | Path, env: str, *, override: bool = False) -> DrillPlan:
    """Validate and clear a drill without running anything."""
    exp = load(experiment)
    clearance = clear(exp, env, override=override)
    data, ext = exp.data, exp.extension
    steps = [PlannedStep("hypothesis", p["name"], "probe") for p in exp.hypothesis_probes()]
    steps += [PlannedStep("guard", g["name"], "probe") for g in ext.guards]
    steps += [
        PlannedStep("method", a.get("name", a.get("ref", "?")), a.get("type", "ref"), bool(a.get("background")))
        for a in data.get("method") or []
    ]
    steps += [PlannedStep("rollback", a["name"], a["type"]) for a in data.get("rollbacks") or []]
    steps += [PlannedStep("recovery", p["name"], "probe") for p in ext.recovery]
    return DrillPlan(exp.name, exp.title, env, clearance.overridden, [t.value for t in ext.targets], steps, unmet(exp))


@contextlib.contextmanager
def _signals_off_the_main_thread() -> Iterator[None]:
    """The toolkit installs signal handlers, which only the main thread may do: skip them elsewhere."""
    import chaoslib.run

    if threading.current_thread() is threading.main_thread():
        yield
        return
    original = chaoslib.run.exit_signals
    chaoslib.run.exit_signals = contextlib.nullcontext
    try:
        yield
    finally:
        chaoslib.run.exit_signals = original


def _run(drill: Drill) -> dict[str, Any]:
    from chaoslib.experiment import run_experiment
    from chaoslib.types import Schedule, Strategy

    schedule = Schedule(continuous_hypothesis_frequency=get_settings().chaos.probe_seconds, fail_fast=False)
    with _signals_off_the_main_thread():
        return run_experiment(
            copy.deepcopy(drill.experiment.data),
            settings=copy.deepcopy(RUNTIME),
            strategy=Strategy.CONTINUOUS,
            schedule=schedule,
        )


def _flow_run_id() -> str | None:
    try:
        from prefect.context import FlowRunContext
    except ImportError:
        return None
    context = FlowRunContext.get()
    return str(context.flow_run.id) if context is not None and context.flow_run is not None else None


def run_drill(
    experiment: str | Path, env: str, *, override: bool = False, listener: Listener | None = None
) -> DrillResult:
    """Run one drill in ``env`` and return its result.

    Refused drills raise ``ChaosError``, and drills this host lacks a prerequisite of raise ``ConfigError``
    (:func:`~chaos.prerequisites.ensure_prerequisites`): neither touches nor records anything.
    """
    exp = load(experiment)
    clearance = clear(exp, env, override=override)
    ensure_prerequisites(exp)
    drill = Drill(exp, env, clearance, flow_run_id=_flow_run_id())
    drill.listeners.extend([*_listeners, *([listener] if listener else [])])
    drills.begin(drill)
    try:
        journal = _run(drill)
    finally:
        drills.end(drill)
    if drill.judgement is None:
        raise ChaosError(
            f"drill {drill.id} ended without verdicts: the chaos.control control did not run",
            hint=f"check the controls of {exp.path}; errors: {'; '.join(drill.errors) or 'none'}",
        )
    return DrillResult(
        drill.id,
        exp.name,
        exp.title,
        env,
        drill.judgement.status.value,
        drill.judgement.score,
        drill.judgement.summary(),
        drill.judgement.to_dict()["verdicts"],
        drill.incidents,
        journal,
    )
