"""``ops postmortem create|list|show|publish`` on a real SQLite incident store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ops.incidents.db import open_engine, store_identity, store_url, transaction
from ops.postmortems.service import list_postmortems
from tests.ops.factories import closed_port_url, invoke, sluice_home
from tests.ops.postmortems.factories import (
    save_scripted_runs,
    scripted_alerts,
    scripted_incident,
    write_alerts,
)

SQL = re.compile(r"\[SQL:|\b(SELECT|INSERT INTO|UPDATE \w+ SET)\b")


@pytest.fixture()
def settings(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    with transaction(open_engine(store_url(settings.home))) as session:
        scripted_incident(session)
    save_scripted_runs(settings.metadata_db_url())
    write_alerts(settings.home, scripted_alerts())
    return settings


def test_create_stores_a_draft_that_show_and_list_return_as_json(settings):
    created = invoke("postmortem", "create", "INC-1", "-o", "json")

    assert created.exit_code == 0, created.output
    summary = json.loads(created.stdout)
    assert summary["incident"] == "INC-1" and summary["published_at"] is None and summary["prompts_left"] >= 10
    shown = json.loads(invoke("postmortem", "show", "1", "-o", "json").stdout)
    assert shown["incident"] == "INC-1" and "## Timeline" in shown["markdown"]
    assert "| Rows delayed | 10 |" in shown["markdown"]
    (listed,) = json.loads(invoke("postmortem", "list", "-o", "json").stdout)
    assert listed["incident"] == "INC-1" and "markdown" not in listed


def test_create_twice_is_refused_with_a_hint_and_force_regenerates(settings):
    invoke("postmortem", "create", "INC-1")

    again = invoke("postmortem", "create", "INC-1")
    forced = invoke("postmortem", "create", "INC-1", "--force")

    assert again.exit_code == 1 and "error: INC-1 already has a postmortem" in again.stderr
    assert "--force" in again.stderr
    assert forced.exit_code == 0 and "wrote the postmortem of INC-1" in forced.stdout


def test_show_renders_the_markdown_for_people(settings):
    invoke("postmortem", "create", "INC-1")

    result = invoke("postmortem", "show", "INC-1")

    assert result.exit_code == 0 and "Postmortem of INC-1" in result.stdout and "Lessons Learned" in result.stdout


def test_publish_writes_the_default_file_and_warns_when_prefect_is_down(settings, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())
    invoke("postmortem", "create", "INC-1")

    result = invoke("postmortem", "publish", "INC-1", "-o", "json")

    assert result.exit_code == 0, result.output
    publication = json.loads(result.stdout)
    path = settings.home / "postmortems" / "INC-1.md"
    assert publication["path"] == str(path) and path.read_text().startswith("# Postmortem of INC-1")
    store = store_identity(store_url(settings.home))
    assert publication["artifact"]["key"] == f"dev-postmortem-{store}-inc-1"
    assert publication["artifact"]["artifact_id"] is None
    assert "warning: not attached to Prefect" in result.stderr
    (listed,) = json.loads(invoke("postmortem", "list", "-o", "json").stdout)
    assert listed["path"] == str(path) and listed["published_at"] is not None


def test_publish_writes_where_out_says(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())
    invoke("postmortem", "create", "INC-1")

    result = invoke("postmortem", "publish", "INC-1", "--out", str(tmp_path / "docs" / "pm.md"))

    assert result.exit_code == 0 and (tmp_path / "docs" / "pm.md").is_file()
    assert "published the postmortem of INC-1" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("postmortem", "create", "INC-9"), "error: no incident INC-9"),
        (("postmortem", "show", "INC-1"), "error: INC-1 has no postmortem yet"),
        (("postmortem", "publish", "INC-1"), "error: INC-1 has no postmortem yet"),
        (("postmortem", "show", "latest"), "error: 'latest' is not an incident id"),
    ],
)
def test_unknown_incidents_and_missing_postmortems_exit_1_with_a_hint(settings, args, message):
    result = invoke(*args)

    assert result.exit_code == 1 and message in result.stderr and "hint:" in result.stderr


def test_an_empty_list_says_how_to_start(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("postmortem", "list")

    assert result.exit_code == 0 and "no postmortems yet" in result.stdout


def run_together(tmp_path, *commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Each command as ``ops`` in its own process, all meeting before they store a postmortem."""
    meeting = tmp_path / "meeting"
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    env.pop("SLUICE_CLI_RAISE", None)  # as a person runs it
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ops.cli.race", str(meeting), str(len(commands)), *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(180), *p.communicate()) for p in procs]


def test_two_concurrent_creates_store_one_postmortem_and_refuse_the_other(monkeypatch, tmp_path, incident_engine):
    settings = sluice_home(monkeypatch, tmp_path, incidents_url=incident_engine.url.render_as_string(False))
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())
    with transaction(incident_engine) as session:
        scripted_incident(session)
    save_scripted_runs(settings.metadata_db_url())

    results = run_together(tmp_path, ["postmortem", "create", "INC-1"], ["postmortem", "create", "INC-1"])

    assert sorted(r.returncode for r in results) == [0, 1], [r.stderr for r in results]
    (loser,) = [r for r in results if r.returncode == 1]
    assert "error: INC-1 already has a postmortem" in loser.stderr and "--force" in loser.stderr
    for r in results:
        assert not SQL.search(r.stdout + r.stderr), r.stdout + r.stderr
    with transaction(incident_engine) as session:
        assert len(list_postmortems(session)) == 1


def test_two_concurrent_forced_creates_both_succeed_with_one_postmortem(monkeypatch, tmp_path, incident_engine):
    settings = sluice_home(monkeypatch, tmp_path, incidents_url=incident_engine.url.render_as_string(False))
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())
    with transaction(incident_engine) as session:
        scripted_incident(session)
    save_scripted_runs(settings.metadata_db_url())

    results = run_together(
        tmp_path, ["postmortem", "create", "INC-1", "--force"], ["postmortem", "create", "INC-1", "--force"]
    )

    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    with transaction(incident_engine) as session:
        assert len(list_postmortems(session)) == 1
