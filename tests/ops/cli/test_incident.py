"""``ops incident`` and ``ops runbook match`` on a SQLite store under a tmp Sluice home."""

from __future__ import annotations

import json

from tests.ops.factories import invoke, sluice_home


def opened(monkeypatch, tmp_path, *extra: str) -> dict:
    sluice_home(monkeypatch, tmp_path)
    result = invoke(
        "incident",
        "open",
        "--title",
        "orders files missing_column after a schema change",
        "--severity",
        "SEV2",
        "--dataset",
        "orders",
        "--who",
        "ana",
        *extra,
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_open_links_the_best_runbook_and_list_json_shows_it(monkeypatch, tmp_path):
    incident = opened(monkeypatch, tmp_path)
    listed = json.loads(invoke("incident", "list", "-o", "json").stdout)

    assert incident["id"] == "INC-1" and incident["runbook"] == "schema-drift"
    assert [i["id"] for i in listed] == ["INC-1"] and listed[0]["status"] == "triggered"


def test_lifecycle_commands_fill_the_timeline(monkeypatch, tmp_path):
    opened(monkeypatch, tmp_path)
    assert invoke("incident", "ack", "INC-1", "--who", "ana").exit_code == 0
    assert invoke("incident", "assign", "1", "bo", "--who", "ana").exit_code == 0
    assert invoke("incident", "note", "INC-1", "paused the feed", "--who", "bo").exit_code == 0
    assert invoke("incident", "mitigate", "INC-1", "--who", "bo", "--note", "feed paused").exit_code == 0
    assert invoke("incident", "resolve", "INC-1", "--yes", "--who", "bo").exit_code == 0
    shown = json.loads(invoke("incident", "show", "INC-1", "-o", "json").stdout)

    assert shown["status"] == "resolved" and shown["assignee"] == "bo"
    assert [e["kind"] for e in shown["timeline"]] == [
        "opened",
        "runbook",
        "acknowledged",
        "assign",
        "note",
        "mitigated",
        "resolved",
    ]


def test_resolve_asks_first_and_stops_on_no(monkeypatch, tmp_path):
    opened(monkeypatch, tmp_path)
    result = invoke("incident", "resolve", "INC-1", input="n\n")

    assert result.exit_code == 1  # aborted
    assert json.loads(invoke("incident", "show", "1", "-o", "json").stdout)["status"] == "triggered"


def test_a_refused_transition_exits_1_and_says_what_is_allowed(monkeypatch, tmp_path):
    opened(monkeypatch, tmp_path)
    invoke("incident", "resolve", "INC-1", "--yes")
    result = invoke("incident", "ack", "INC-1")

    assert result.exit_code == 1
    assert "INC-1 is resolved; it cannot become acknowledged" in result.stderr


def test_bad_arguments_are_usage_errors(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    assert invoke("incident", "open", "--title", "x", "--severity", "SEV9").exit_code == 2
    assert invoke("incident", "list", "--status", "sleeping").exit_code == 2
    assert invoke("incident", "show", "INC-77").exit_code == 1


def test_runbook_match_ranks_with_reasons(monkeypatch, tmp_path):
    opened(monkeypatch, tmp_path)
    matched = json.loads(invoke("runbook", "match", "INC-1", "-o", "json").stdout)

    assert matched["linked"] == "schema-drift"
    assert matched["candidates"][0]["runbook_id"] == "schema-drift"
    assert any("missing_column" in r for r in matched["candidates"][0]["reasons"])


def test_runbook_match_uses_the_resource_of_the_latest_correlation(monkeypatch, tmp_path):
    from ops.cli._stores import incident_engine
    from ops.incidents.db import transaction
    from ops.incidents.service import ensure_incident, record

    sluice_home(monkeypatch, tmp_path)
    invoke("incident", "open", "--title", "ingest-files slowed down", "--severity", "SEV3")
    with transaction(incident_engine()) as session:
        record(
            session,
            ensure_incident(session, "INC-1"),
            "correlation",
            "ops",
            "correlation: top suspect sluice_process_rss_bytes{worker=w1} (resource=memory); ...",
        )
    matched = json.loads(invoke("runbook", "match", "INC-1", "-o", "json").stdout)

    assert matched["candidates"][0]["runbook_id"] == "dask-worker-lost"
    assert "the top correlated suspect is memory" in matched["candidates"][0]["reasons"]


def test_a_title_the_store_cannot_hold_is_refused_with_a_reason(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    result = invoke("incident", "open", "--title", "x" * 301)

    assert result.exit_code == 1
    assert "error: the title is 301 characters long; at most 300 fit" in result.stderr
    assert "hint: shorten the title" in result.stderr
