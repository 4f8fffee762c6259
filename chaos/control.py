"""The ``chaos.control`` control: Sluice's drill lifecycle around a Chaos Toolkit run.

Every experiment declares it (``controls: [{name: sluice-drill, provider:
{type: python, module: chaos.control}}]``), so the stock ``chaos run`` gets
the same drill as ``ops chaos run``:

- **before the experiment:** the blast-radius guard (when no runner checked it
  already) halts a drill in a refused environment before anything is touched;
- **before each step of the method:** the guards (abort conditions) run, and a
  failing guard halts the drill (``InterruptExecution``);
- **after the experiment:** rollbacks that the toolkit skipped are played
  (rollbacks always run), the recovery probes run, Sluice's verdicts are
  judged and added to the journal under ``sluice``, the drill is written on
  its incidents' timelines, the journal is stored with the incident store,
  and inside a Prefect flow run it is attached as a markdown artifact.

Each of these steps is guarded: a failure is recorded in ``journal["sluice"]["errors"]``.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

from chaoslib.activity import execute_activity, run_activity
from chaoslib.exceptions import InterruptExecution
from chaoslib.hypothesis import within_tolerance
from chaoslib.rollback import run_rollbacks

from chaos import drill as drills
from chaos.drill import Drill, Phase, Step, utcnow
from chaos.experiment import EXTENSION, Experiment, SluiceExtension
from ops.errors import ChaosError

logger = logging.getLogger(__name__)
_steps: dict[tuple[int, int], Step] = {}
_lock = threading.Lock()


def _role(context: Any, experiment: dict[str, Any] | None) -> str | None:
    if not isinstance(context, dict) or experiment is None:
        return None
    for role, activities in (
        ("method", experiment.get("method")),
        ("rollback", experiment.get("rollbacks")),
        ("hypothesis", (experiment.get("steady-state-hypothesis") or {}).get("probes")),
    ):
        if any(a is context for a in activities or []):
            return role
    return None


def _adopt(experiment: dict[str, Any]) -> Drill:
    """The drill the runner began, or a new one for the stock ``chaos run`` (checked before the experiment)."""
    found = drills.current_or_none()
    if found is not None:
        return found
    from sluice.settings import get_settings

    ext = SluiceExtension.model_validate(
        next(e for e in experiment.get("extensions", []) if e.get("name") == EXTENSION)
    )
    name = re.sub(r"[^a-z0-9]+", "-", str(experiment.get("title", "experiment")).lower()).strip("-")[:60]
    drill = Drill(Experiment(name, Path(name), experiment, ext), get_settings().env)
    drill.owned_by_control = True
    return drills.begin(drill)


def configure_control(experiment: dict[str, Any] | None = None, **_: Any) -> None:
    if experiment is not None:
        _adopt(experiment)


def before_experiment_control(context: Any, experiment: dict[str, Any] | None = None, **_: Any) -> None:
    drill = _adopt(experiment or context)
    if drill.clearance is None:
        from chaos.guard import ensure_blast_radius
        from sluice.settings import get_settings

        try:
            drill.clearance = ensure_blast_radius(
                drill.experiment.extension,
                drill.environment,
                process_env=get_settings().env,
                allowed=get_settings().chaos.environments,
                experiment=drill.experiment.name,
            )
        except ChaosError as exc:
            drill.errors.append(str(exc))
            raise InterruptExecution(str(exc)) from None
    drill.phase = Phase.BEFORE
    drill.emit("message", "drill", "started", f"{drill.experiment.title} in {drill.environment}")


def before_method_control(context: Any, **_: Any) -> None:
    drills.current().phase = Phase.METHOD


def after_method_control(context: Any, **_: Any) -> None:
    drills.current().phase = Phase.AFTER


def before_rollback_control(context: Any, **_: Any) -> None:
    drills.current().phase = Phase.ROLLBACK


def _check_guards(drill: Drill, configuration: Any, secrets: Any) -> None:
    for guard in drill.experiment.extension.guards:
        try:
            output = run_activity(guard, configuration, secrets)
            ok = within_tolerance(guard["tolerance"], output, configuration=configuration, secrets=secrets)
            detail = output.get("detail", "") if isinstance(output, dict) else str(output)
        except Exception as exc:  # noqa: BLE001 - a guard that cannot tell is a failed guard
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            reason = f"guard {guard['name']} failed: {detail}"
            drill.steps.append(Step(Phase.METHOD, guard["name"], "guard", utcnow(), "failed", utcnow(), detail))
            drill.emit("step", guard["name"], "failed", detail, type="guard")
            drill.abort_reason = reason
            raise InterruptExecution(f"drill aborted: {reason}")


def before_activity_control(
    context: Any, experiment: dict[str, Any] | None = None, configuration: Any = None, secrets: Any = None, **_: Any
) -> None:
    drill = drills.current_or_none()
    role = _role(context, experiment)
    if drill is None or role == "hypothesis" or (role is None and drill.phase is not Phase.RECOVERY):
        return
    if role == "method" and not context.get("background"):
        _check_guards(drill, configuration, secrets)
    phase = drill.phase if role == "method" or drill.phase is Phase.RECOVERY else Phase.ROLLBACK
    step = Step(phase, context["name"], context.get("type", "action"), utcnow())
    with _lock:
        _steps[(id(context), threading.get_ident())] = step
        drill.steps.append(step)
    drill.emit("step", step.name, "running", type=step.type, background=bool(context.get("background")))


def _step_detail(state: dict[str, Any]) -> str:
    if state.get("status") != "succeeded":
        return " ".join(str((state.get("exception") or ["failed"])[-1]).split())[:400]
    output = state.get("output")
    if isinstance(output, dict):
        return str(output.get("detail") or output.get("state") or "")[:400] or ", ".join(list(output)[:4])
    return "" if output is None else str(output)[:200]


def after_activity_control(context: Any, state: dict[str, Any] | None = None, **_: Any) -> None:
    drill = drills.current_or_none()
    with _lock:
        step = _steps.pop((id(context), threading.get_ident()), None)
    if drill is None or step is None:
        return
    step.ended_at, step.status = utcnow(), (state or {}).get("status", "not run")
    step.detail = _step_detail(state or {})
    drill.emit("step", step.name, step.status, step.detail, type=step.type)


def after_hypothesis_control(context: Any, state: dict[str, Any] | None = None, **_: Any) -> None:
    drill = drills.current_or_none()
    if drill is None or not state:
        return
    for run in state.get("probes", []):
        held = bool(run.get("tolerance_met"))
        output = run.get("output")
        detail = output.get("detail", "") if isinstance(output, dict) else " ".join(run.get("exception") or [])
        drill.emit("hypothesis", run["activity"]["name"], "held" if held else "broken", str(detail)[:400])


def _ensure_rollbacks(
    drill: Drill, experiment: dict[str, Any], journal: dict[str, Any], configuration: Any, secrets: Any
) -> None:
    """Rollbacks always run: play them here when the toolkit's strategy skipped them."""
    if not experiment.get("rollbacks") or journal.get("rollbacks"):
        return
    drill.phase = Phase.ROLLBACK
    runs: list[dict[str, Any]] = []
    for _ in run_rollbacks(experiment, configuration, secrets, None, None, None, runs):
        pass
    journal["rollbacks"] = runs


def _recover(drill: Drill, experiment: dict[str, Any], configuration: Any, secrets: Any) -> list[dict[str, Any]]:
    drill.phase = Phase.RECOVERY
    runs = []
    for probe in drill.experiment.extension.recovery:
        run = execute_activity(experiment, probe, configuration, secrets, None)
        run["tolerance_met"] = run.get("status") == "succeeded" and within_tolerance(
            probe["tolerance"], run.get("output"), configuration=configuration, secrets=secrets
        )
        drill.emit(
            "hypothesis",
            probe["name"],
            "held" if run["tolerance_met"] else "broken",
            _step_detail(run) if run.get("status") != "succeeded" else str(run["output"].get("detail", "")),
        )
        runs.append(run)
    return runs


def after_experiment_control(
    context: Any,
    state: dict[str, Any] | None = None,
    experiment: dict[str, Any] | None = None,
    configuration: Any = None,
    secrets: Any = None,
    **_: Any,
) -> None:
    from chaos.aftermath import conclude

    drill = drills.current_or_none()
    if drill is None or state is None:
        return
    experiment = experiment or context
    sluice = state.setdefault("sluice", {"drill_id": drill.id, "errors": []})
    sluice.setdefault("errors", []).extend(drill.errors)
    if drill.abort_reason:
        sluice["abort_reason"] = drill.abort_reason
    recovery: list[dict[str, Any]] = []
    if drill.clearance is not None:
        for name, step in (
            ("rollbacks", lambda: _ensure_rollbacks(drill, experiment, state, configuration, secrets)),
            ("recovery", lambda: recovery.extend(_recover(drill, experiment, configuration, secrets))),
        ):
            try:
                step()
            except Exception as exc:
                logger.exception("drill %s: %s failed", drill.id, name)
                sluice["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
    sluice["recovery"] = recovery
    conclude(drill, experiment, state, recovery)


def cleanup_control() -> None:
    drill = drills.current_or_none()
    if drill is not None and drill.owned_by_control:
        drills.end(drill)
