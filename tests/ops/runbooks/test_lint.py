"""``ops runbook lint``: commands that exist, sections, coverage of rules and failures, staleness."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer.main

from ops.alerts.rules import RuleSet, load_rules
from ops.cli._app import app
from ops.runbooks.catalog import load_runbooks
from ops.runbooks.lint import check_command, lint
from tests.ops.alerts.factories import rule
from tests.ops.runbooks.factories import BODY, write_runbook

CLI = typer.main.get_command(app)
TODAY = date(2026, 11, 25)
REPO_RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"


class Boom(Exception):
    pass


def test_commands_and_options_are_checked_against_the_real_cli() -> None:
    assert check_command("ops runs list --dataset orders", CLI) is None
    assert check_command("ops incident resolve INC-1 --yes", CLI) is None
    assert check_command("ops runs explode", CLI) == "`ops runs` has no command 'explode'"
    assert check_command("ops runs list --colour", CLI) == "`ops runs list` has no option --colour"
    assert check_command("ops runs", CLI) == "`ops runs` needs a subcommand"
    # a group that runs on its own (ops erase erases; its subcommands read certificates)
    assert check_command("ops erase --subject email=a@b.c --reason r", CLI) is None
    assert check_command("ops erase --colour", CLI) == "`ops erase` has no option --colour"


def test_lint_reports_bad_commands_missing_sections_rules_and_failures(tmp_path) -> None:
    write_runbook(tmp_path, "good", rules="[r1]", exceptions="[Boom]")
    write_runbook(tmp_path, "bad-command", body=BODY.format(title="x").replace("ops alerts list", "ops alerts ring"))
    write_runbook(tmp_path, "no-verify", body="## Diagnose\n\n## Mitigate\n")
    write_runbook(tmp_path, "old", reviewed="2026-05-01")
    rules = RuleSet(rules=[rule(id="r1", runbook="good"), rule(id="r2", runbook="missing")])

    issues = lint(load_runbooks(tmp_path), rules, CLI, TODAY, failures=[Boom, KeyError])

    found = {(i.level, i.runbook, i.message) for i in issues}
    assert ("error", "bad-command", "`ops alerts` has no command 'ring' (in `ops alerts ring`)") in found
    assert ("error", "no-verify", "missing section(s): Verify") in found
    assert ("error", "missing", "alert rule r2 names a runbook that does not exist") in found
    assert ("error", "-", "no runbook matches the failure KeyError") in found
    assert ("warning", "old", "last reviewed 2026-05-01, over 90 days ago") in found
    assert not [i for i in issues if i.runbook == "good"]


def test_the_projects_runbooks_lint_clean() -> None:
    issues = lint(load_runbooks(REPO_RUNBOOKS), load_rules(), CLI, date.today())
    assert [i for i in issues if i.level == "error"] == []
