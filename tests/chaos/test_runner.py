"""The runner's own guarantees, on small experiments with the test providers (no stack, no Prefect)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from chaos.runner import run_drill
from ops.errors import ChaosError
from tests.chaos.factories import action, activity, write_experiment
from tests.chaos.providers import CALLS
from tests.ops.factories import invoke


def verdict(result, name: str) -> dict:
    return next(v for v in result.verdicts if v["name"] == name)


def test_a_drill_that_holds_passes_and_is_checked_during_the_method(drill_env, tmp_path):
    path = write_experiment(tmp_path, method=[action("step-one", linger=0.7)])

    result = run_drill(path, "staging")

    assert result.passed and result.score == 1.0
    assert CALLS == ["step-one", "undo"]
    assert result.journal["steady_states"]["during"], "the steady state must be checked while the method runs"
    assert verdict(result, "conservation-flag-down")["checks"] >= 4


def test_rollbacks_run_when_the_steady_state_deviates(drill_env, tmp_path):
    path = write_experiment(tmp_path, method=[action("break-it", "raise_flag", flag="broken")])

    result = run_drill(path, "staging")

    assert result.status == "failed" and result.journal["deviated"]
    assert CALLS == ["break-it", "undo"]
    assert verdict(result, "conservation-flag-down")["held"] is False


def test_a_failed_action_fails_the_drill_and_rollbacks_still_run(drill_env, tmp_path):
    path = write_experiment(tmp_path, method=[action("inject", "fail"), action("after-it")])

    result = run_drill(path, "staging")

    assert result.status == "failed" and result.score == 1.0  # the hypotheses held, the fault never went in
    assert "undo" in CALLS
    assert "inject could not inject its fault" in verdict(result, "method-every-action-succeeded")["detail"]


def test_a_failing_guard_halts_the_drill_before_its_next_step(drill_env, tmp_path):
    guard = activity("probe", "guard-no-intruder", "flag_down", flag="intruder")
    path = write_experiment(
        tmp_path, guards=[guard], method=[action("intrude", "raise_flag", flag="intruder"), action("never-runs")]
    )

    result = run_drill(path, "staging")

    assert result.status == "aborted"
    assert CALLS == ["intrude", "undo"]
    assert "guard guard-no-intruder failed: intruder is up" in result.summary


def test_prod_is_refused_before_anything_runs_and_the_override_runs_it(drill_env, tmp_path, monkeypatch):
    from sluice.settings import get_settings

    monkeypatch.setenv("SLUICE_ENV", "prod")
    get_settings(fresh=True)
    path = write_experiment(tmp_path, environments=("staging", "prod"))

    with pytest.raises(ChaosError, match="refusing to drill prod: it is not allow-listed"):
        run_drill(path, "prod")
    assert CALLS == []

    result = run_drill(path, "prod", override=True)
    assert result.passed and CALLS == ["step-one", "undo"]


def test_an_invalid_experiment_file_gets_a_clear_error(drill_env, tmp_path):
    path = write_experiment(tmp_path, "broken", method=[activity("action", "x", "no_such_function")])

    with pytest.raises(ChaosError, match=r"broken\.yaml: .*does not expose a function called 'no_such_function'"):
        run_drill(path, "staging")


def test_drills_are_stored_and_reported_with_their_score(drill_env, tmp_path):
    passed = run_drill(write_experiment(tmp_path, "good"), "staging")
    failed = run_drill(write_experiment(tmp_path, "bad", method=[action("b", "raise_flag", flag="broken")]), "staging")

    listed = json.loads(invoke("chaos", "report", "--last", "5", "-o", "json").stdout)
    journal = json.loads(invoke("chaos", "report", "--drill", failed.drill_id, "-o", "json").stdout)
    table = invoke("chaos", "report")

    assert [d["drill_id"] for d in listed["drills"]] == [failed.drill_id, passed.drill_id]
    assert [d["score"] for d in listed["drills"]] == [0.0, 1.0]
    assert listed["trend"][0]["drills"] == 2 and listed["trend"][0]["score"] == 0.5
    assert journal["sluice"]["status"] == "failed" and journal["rollbacks"]
    assert "Resilience over time" in table.stdout


def test_the_stock_chaos_run_gets_the_same_drill_with_rollbacks_always(drill_env, tmp_path, monkeypatch):
    from chaostoolkit.cli import cli

    monkeypatch.chdir(tmp_path)
    path = write_experiment(tmp_path, method=[action("inject", "fail")])

    CliRunner().invoke(cli, ["--log-file", "chaos.log", "run", "--journal-path", "journal.json", str(path)])

    journal = json.loads((tmp_path / "journal.json").read_text())
    assert "undo" in CALLS, "rollbacks run even under the toolkit's default strategy"
    assert journal["sluice"]["status"] == "failed"
