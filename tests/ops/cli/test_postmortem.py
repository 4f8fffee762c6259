"""``ops postmortem create|list|show|publish`` on a real SQLite incident store."""

from __future__ import annotations

import json

import pytest

from ops.incidents.db import open_engine, store_url, transaction
from tests.ops.factories import closed_port_url, invoke, sluice_home
from tests.ops.postmortems.factories import save_scripted_runs, scripted_alerts, scripted_incident, write_alerts


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
    assert publication["artifact"]["key"] == "postmortem-inc-1" and publication["artifact"]["artifact_id"] is None
    assert "warning: not attached to Prefect" in result.stderr
    (listed,) = json.loads(invoke("postmortem", "list", "-o", "json").stdout)
    assert listed["path"] == str(path) and listed["published_at"] is not None


def test_publish_writes_where_out_says(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())
    invoke("postmortem", "create", "INC-1")

    result = invoke("postmortem", "publish", "INC-1", "--out", str(tmp_path / "docs" / "pm.md"))

    assert result.exit_code == 0 and (tmp_path / "docs" / "pm.md").is_file()
    assert "published the postmortem of INC-1" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("postmortem", "create", "INC-9"), "error: no incident INC-9"),
    (("postmortem", "show", "INC-1"), "error: INC-1 has no postmortem yet"),
    (("postmortem", "publish", "INC-1"), "error: INC-1 has no postmortem yet"),
    (("postmortem", "show", "latest"), "error: 'latest' is not an incident id"),
])
def test_unknown_incidents_and_missing_postmortems_exit_1_with_a_hint(settings, args, message):
    result = invoke(*args)

    assert result.exit_code == 1 and message in result.stderr and "hint:" in result.stderr


def test_an_empty_list_says_how_to_start(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("postmortem", "list")

    assert result.exit_code == 0 and "no postmortems yet" in result.stdout
