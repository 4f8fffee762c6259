"""Verdicts from a journal, and the resilience score weighted by severity."""

from __future__ import annotations

from chaos.experiment import Kind, SluiceExtension
from chaos.verdicts import DrillStatus, Verdict, judge, score
from ops.incidents.models import Severity

EXT = SluiceExtension(targets=["lake"], environments=["staging"], severity={Kind.ALERTING: Severity.SEV3})
EXPERIMENT = {
    "steady-state-hypothesis": {"probes": [{"name": "conservation-x"}, {"name": "alerting-y"}]},
    "rollbacks": [{"name": "heal"}],
}


def check(name: str, held: bool, detail: str = "") -> dict:
    return {
        "activity": {"name": name},
        "status": "succeeded",
        "tolerance_met": held,
        "output": {"status": "held" if held else "broken", "detail": detail},
    }


def journal(*, during_broken: bool = False, status: str = "completed", action_status: str = "succeeded") -> dict:
    return {
        "status": status,
        "deviated": False,
        "steady_states": {
            "before": {"probes": [check("conservation-x", True), check("alerting-y", True)]},
            "during": [{"probes": [check("conservation-x", not during_broken, "2 lost")]}],
            "after": {"probes": [check("conservation-x", True), check("alerting-y", True)]},
        },
        "run": [{"activity": {"name": "inject"}, "status": action_status, "exception": ["RuntimeError: no"]}],
        "rollbacks": [{"activity": {"name": "heal"}, "status": "succeeded"}],
    }


def test_a_drill_where_everything_held_passes_with_score_one():
    judgement = judge(EXPERIMENT, journal(), EXT, [])

    assert judgement.status is DrillStatus.PASSED and judgement.score == 1.0
    assert [v.checks for v in judgement.hypotheses] == [3, 2]


def test_a_deviation_during_the_method_breaks_the_hypothesis_even_if_it_held_after():
    judgement = judge(EXPERIMENT, journal(during_broken=True), EXT, [])

    (conservation,) = [v for v in judgement.verdicts if v.name == "conservation-x"]
    assert judgement.status is DrillStatus.FAILED and not conservation.held and conservation.detail == "2 lost"
    assert judgement.score == round(2 / (8 + 2), 4)  # SEV1 broken, SEV3 held


def test_a_failed_action_fails_the_drill_though_every_hypothesis_held():
    judgement = judge(EXPERIMENT, journal(action_status="failed"), EXT, [])

    assert judgement.status is DrillStatus.FAILED and judgement.score == 1.0
    assert "method-every-action-succeeded: inject failed: RuntimeError: no" in judgement.reasons


def test_an_interrupted_drill_is_aborted():
    assert judge(EXPERIMENT, journal(status="interrupted"), EXT, []).status is DrillStatus.ABORTED


def test_score_weights_severities_8_4_2_1():
    verdicts = [
        Verdict(k, Kind.CONSERVATION, s, held, 1, "")
        for k, s, held in [("a", Severity.SEV1, True), ("b", Severity.SEV2, False), ("c", Severity.SEV4, True)]
    ]

    assert score(verdicts) == round(9 / 13, 4)
    assert score([]) is None
