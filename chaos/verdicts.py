"""Sluice's verdicts on a drill, from the toolkit's journal, and the resilience score.

A hypothesis *held* when every check of its probe was within tolerance:
before the method, during it (the continuous checks) and after it. Recovery
probes are checked once, after the rollbacks. Two more verdicts keep the
drill honest: every action of the method succeeded (a failed action fails the
drill: the fault may not have gone in), and every rollback ran and succeeded.

The **resilience score** of a drill is the share of its hypotheses
(conservation, outcome, alerting, recovery) that held, weighted by severity
(SEV1 counts 8, SEV2 4, SEV3 2, SEV4 1).

A drill **passed** when every verdict held; it **failed** otherwise, and it was
**aborted** when a guard (or a signal) halted it.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

from chaos.experiment import HYPOTHESES, Kind, SluiceExtension, kind_of
from ops.incidents.models import Severity

WEIGHT = {Severity.SEV1: 8, Severity.SEV2: 4, Severity.SEV3: 2, Severity.SEV4: 1}


class DrillStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"


@dataclass(frozen=True)
class Verdict:
    """One hypothesis (or the method, or the rollbacks) and whether it held."""

    name: str
    kind: Kind
    severity: Severity
    held: bool
    checks: int
    detail: str


@dataclass(frozen=True)
class Judgement:
    """Every verdict of a drill, its status and its score."""

    status: DrillStatus
    verdicts: list[Verdict]
    score: float | None
    reasons: list[str]

    @property
    def hypotheses(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.kind in HYPOTHESES]

    def summary(self) -> str:
        held = sum(v.held for v in self.hypotheses)
        score = "-" if self.score is None else f"{self.score:.2f}"
        head = f"{self.status.value.upper()}: {held} of {len(self.hypotheses)} hypotheses held (score {score})"
        return head + (f"; {'; '.join(self.reasons)}" if self.reasons else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "score": self.score,
            "reasons": self.reasons,
            "verdicts": [{**asdict(v), "kind": v.kind.value, "severity": v.severity.value} for v in self.verdicts],
        }


def score(verdicts: list[Verdict]) -> float | None:
    """Share of hypotheses held, weighted by severity; None without hypotheses."""
    counted = [v for v in verdicts if v.kind in HYPOTHESES]
    total = sum(WEIGHT[v.severity] for v in counted)
    return round(sum(WEIGHT[v.severity] for v in counted if v.held) / total, 4) if total else None


def _detail(run: dict[str, Any]) -> str:
    output = run.get("output")
    if isinstance(output, dict) and output.get("detail"):
        return str(output["detail"])
    if run.get("exception"):
        return str(run["exception"][-1]).strip()
    return "" if output is None else str(output)[:300]


def _checks(journal: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    states = journal.get("steady_states") or {}
    ordered = [states.get("before"), *(states.get("during") or []), states.get("after")]
    found: dict[str, list[dict[str, Any]]] = {}
    for state in ordered:
        for run in (state or {}).get("probes", []):
            found.setdefault(run["activity"]["name"], []).append(run)
    return found


def verdict_of(name: str, kind: Kind, severity: Severity, runs: list[dict[str, Any]]) -> Verdict:
    """A verdict from every check of one probe: held only if it was checked and always within tolerance."""
    if not runs:
        return Verdict(name, kind, severity, False, 0, "never checked")
    broken = [r for r in runs if not r.get("tolerance_met")]
    return Verdict(name, kind, severity, not broken, len(runs), _detail(broken[0] if broken else runs[-1]))


def _method(journal: dict[str, Any], ext: SluiceExtension) -> Verdict:
    runs = journal.get("run") or []
    failed = [r for r in runs if r.get("status") != "succeeded"]
    detail = (
        f"{failed[0]['activity']['name']} failed: {_detail(failed[0])}"
        if failed
        else f"{len(runs)} step(s) succeeded"
        if runs
        else "the method did not run"
    )
    return Verdict(
        "method-every-action-succeeded",
        Kind.METHOD,
        ext.severity_of(Kind.METHOD),
        bool(runs) and not failed,
        len(runs),
        detail,
    )


def _rollbacks(journal: dict[str, Any], declared: int, ext: SluiceExtension) -> Verdict:
    runs = journal.get("rollbacks") or []
    failed = [r for r in runs if r.get("status") != "succeeded"]
    held = len(runs) == declared and not failed
    detail = (
        f"{failed[0]['activity']['name']} failed: {_detail(failed[0])}"
        if failed
        else f"{len(runs)} of {declared} rollback(s) ran"
    )
    return Verdict(
        "rollback-every-rollback-succeeded", Kind.ROLLBACK, ext.severity_of(Kind.ROLLBACK), held, len(runs), detail
    )


def judge(
    experiment: dict[str, Any], journal: dict[str, Any], ext: SluiceExtension, recovery: list[dict[str, Any]]
) -> Judgement:
    """Every verdict of a drill from its journal and its recovery checks."""
    checks = _checks(journal)
    verdicts = []
    for probe in (experiment.get("steady-state-hypothesis") or {}).get("probes") or []:
        kind = kind_of(probe["name"]) or Kind.OUTCOME
        verdicts.append(verdict_of(probe["name"], kind, ext.severity_of(kind), checks.get(probe["name"], [])))
    for probe in ext.recovery:
        runs = [r for r in recovery if r["activity"]["name"] == probe["name"]]
        verdicts.append(verdict_of(probe["name"], Kind.RECOVERY, ext.severity_of(Kind.RECOVERY), runs))
    verdicts.append(_method(journal, ext))
    verdicts.append(_rollbacks(journal, len(experiment.get("rollbacks") or []), ext))
    reasons = [f"{v.name}: {v.detail}" for v in verdicts if not v.held]
    if journal.get("status") in ("interrupted", "aborted"):
        status = DrillStatus.ABORTED
        reasons.insert(0, journal.get("sluice", {}).get("abort_reason") or f"the drill was {journal['status']}")
    elif reasons or journal.get("deviated") or journal.get("status") == "failed":
        status = DrillStatus.FAILED
    else:
        status = DrillStatus.PASSED
    return Judgement(status, verdicts, score(verdicts), reasons)
