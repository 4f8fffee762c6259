"""Rule files: the default set loads, and malformed files are refused with the location of each problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.alerts.rules import load_rules, parse_rules
from ops.errors import RuleFileError

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"


def test_default_rules_load_and_each_names_a_runbook_that_exists() -> None:
    rules = load_rules().rules
    assert {r.id for r in rules} >= {"quarantine-rate-spike", "row-count-anomaly", "freshness-sla-breach"}
    missing = [r.runbook for r in rules if not (RUNBOOKS / f"{r.runbook}.md").is_file()]
    assert missing == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [", "not valid YAML"),
        ("- id: x", "must be a mapping with a 'rules' list"),
        (
            "rules:\n  - id: a\n    summary: s\n    selector: m\n    threshold: {static: 1}\n"
            "    trigger: {window: 15m, fraction: 0.5}\n    recovery: {window: 15m, fraction: 0.5}\n"
            "    severity: SEV3\n    runbook: r\n",
            "rules[a]: recovery.fraction (0.5) must be below trigger.fraction",
        ),
        (
            "rules:\n  - id: a\n    summary: s\n    selector: 'm{'\n    threshold: {static: 1}\n"
            "    trigger: {window: 15m, fraction: 0.5}\n    recovery: {window: 15m, fraction: 0}\n"
            "    severity: SEV3\n    runbook: r\n",
            "rules[a].selector",
        ),
        (
            "rules:\n  - id: a\n    summary: s\n    selector: m\n    threshold: {static: 1, dynamic: {z: 3}}\n"
            "    trigger: {window: 15 minutes, fraction: 0.5}\n    recovery: {window: 15m, fraction: 0}\n"
            "    severity: SEV9\n    runbok: r\n",
            "exactly one of dynamic or static",
        ),
    ],
)
def test_malformed_rule_files_are_refused_with_the_location(text: str, message: str) -> None:
    with pytest.raises(RuleFileError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        parse_rules(text, origin="rules.yaml")


def test_every_problem_of_a_rule_is_listed_with_a_suggestion() -> None:
    text = (
        "rules:\n  - id: a\n    summary: s\n    selector: m\n    threshold: {static: 1}\n"
        "    trigger: {window: 15 minutes, fraction: 0.5}\n    recovery: {window: 15m, fraction: 0}\n"
        "    severity: SEV9\n    runbok: r\n"
    )
    with pytest.raises(RuleFileError) as info:
        parse_rules(text, origin="rules.yaml")
    message = str(info.value)
    assert "rules[a].trigger.window: invalid duration '15 minutes'" in message
    assert "rules[a].severity" in message
    assert "unknown field 'runbok' (did you mean 'runbook'?)" in message


def test_a_missing_rule_file_says_how_to_use_the_defaults(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="does not exist") as info:
        load_rules(tmp_path / "nope.yaml")
    assert "omit --rules" in info.value.hint
