"""Postmortems written from the scripted incident, stored, replaced and published."""

from __future__ import annotations

import re
from datetime import date

import pytest

from ops.errors import IncidentError, PostmortemError
from ops.incidents.db import store_identity, transaction
from ops.incidents.service import trigger
from ops.postmortems.actions import add_action
from ops.postmortems.render import PROMPT, SECTIONS
from ops.postmortems.service import (
    FactSources,
    attach_publication,
    collect_facts,
    create_postmortem,
    default_path,
    ensure_postmortem,
    list_postmortems,
    publish_postmortem,
)
from tests.ops.factories import closed_port_url
from tests.ops.postmortems.factories import (
    minutes,
    save_scripted_runs,
    scripted_alerts,
    scripted_incident,
    scripted_trigger,
    write_alerts,
)

NOW = minutes(24 * 60)


@pytest.fixture()
def sources(tmp_path) -> FactSources:
    home = tmp_path / "home"
    write_alerts(home, scripted_alerts())
    url = f"sqlite:///{tmp_path / 'sluice.db'}"
    save_scripted_runs(url)
    return FactSources(home, url, api_url=None)


def _section(markdown: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, flags=re.S | re.M)
    assert match, f"no section {title!r}"
    return match.group(1)


def _written(incident_engine, sources) -> str:
    with transaction(incident_engine) as session:
        incident = scripted_incident(session)
        add_action(
            session,
            incident,
            type="prevent",
            owner="bo",
            due=date(2026, 3, 1),
            text="alert when a source file disappears",
            tracker_url="https://tracker.example.com/OPS-7",
        )
        return create_postmortem(session, incident, sources, now=NOW).postmortem.markdown


def test_the_postmortem_has_every_section_of_the_template_in_order(incident_engine, sources):
    markdown = _written(incident_engine, sources)

    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert headings == list(SECTIONS)
    assert re.findall(r"^### (.+)$", markdown, flags=re.M) == [
        "What went well",
        "What went wrong",
        "Where we got lucky",
    ]
    assert markdown.startswith("# Postmortem of INC-1: rows-low firing for orders\n")


def test_what_sluice_cannot_know_is_left_as_marked_prompts(incident_engine, sources):
    markdown = _written(incident_engine, sources)

    for title in ("Root Causes", "Lessons Learned"):
        body = _section(markdown, title)
        lines = [line for line in body.splitlines() if line.strip() and not line.startswith("###")]
        assert lines and all(line.startswith(f"> {PROMPT}") for line in lines)
    for title in SECTIONS:
        assert PROMPT in _section(markdown, title)


def test_the_timeline_merges_incident_chaos_and_alert_lines_with_their_source(incident_engine, sources):
    timeline = _section(_written(incident_engine, sources), "Timeline")

    rows = [line for line in timeline.splitlines() if line.startswith("| 2026")]
    assert [row.split(" | ")[1] for row in rows] == [
        "chaos (drill)",
        "alert (rows-low)",
        "incident (alert)",
        "incident (ops)",
        "incident (ops)",
        "incident (ops)",
        "alert (rows-low)",
        "incident (ops)",
    ]
    assert rows[0].startswith("| 2026-03-05 02:56:00 | chaos (drill) | chaos-inject: deleted s3://drop/orders/a.csv")
    assert "> Prefect state history unavailable: 'run-a' is not a Prefect flow-run id." in timeline


def test_impact_and_detection_carry_the_figures_of_the_script(incident_engine, sources):
    markdown = _written(incident_engine, sources)

    impact = _section(markdown, "Impact")
    assert "| Runs of the dataset | 2 (1 failed) |" in impact
    assert "| Rows delayed | 10 |" in impact and "| Rows quarantined | 4 |" in impact
    assert "| Rows reprocessed | 10 |" in impact and "SLA minutes breached: **12.0**" in impact
    detection = _section(markdown, "Detection")
    assert "| Detected by | alert rule(s) `rows-low` |" in detection
    assert "| Time to detect | 4m |" in detection and "| Time to acknowledge | 3m |" in detection
    assert "| Time to mitigate | 12m |" in detection and "| Time to resolve | 40m |" in detection


def test_action_items_are_a_table_with_type_owner_due_status_and_tracker(incident_engine, sources):
    actions = _section(_written(incident_engine, sources), "Action Items")

    assert "| # | Action | Type | Owner | Due | Status | Tracker |" in actions
    assert (
        "| #1 | alert when a source file disappears | prevent | bo | 2026-03-01 | open (overdue) | "
        "https://tracker.example.com/OPS-7 |"
    ) in actions


def test_supporting_information_names_the_run_the_runbook_and_the_signature(incident_engine, sources):
    support = _section(_written(incident_engine, sources), "Supporting information")

    assert "- Runbook: `row-count-anomaly`" in support and "- Runs considered: `run-a`, `run-b`" in support
    assert "SourceNotFoundError: s3://drop/orders/a.csv" in support


def test_a_second_create_is_refused_unless_replacing(incident_engine, sources):
    with transaction(incident_engine) as session:
        incident = scripted_incident(session)
        first = create_postmortem(session, incident, sources, now=NOW).postmortem
        with pytest.raises(PostmortemError, match="already has a postmortem") as info:
            create_postmortem(session, incident, sources, now=NOW)
        assert "--force" in info.value.hint
        again = create_postmortem(session, incident, sources, replace=True, now=minutes(48 * 60)).postmortem

    assert again is first and again.created_at == NOW and again.updated_at == minutes(48 * 60)


def test_show_needs_a_postmortem_and_an_incident(incident_engine, sources):
    with transaction(incident_engine) as session:
        incident = scripted_incident(session)
        with pytest.raises(PostmortemError, match="INC-1 has no postmortem yet"):
            ensure_postmortem(session, incident.ref)
        with pytest.raises(IncidentError, match="no incident INC-404"):
            ensure_postmortem(session, "INC-404")
        create_postmortem(session, incident, sources, now=NOW)
        assert ensure_postmortem(session, "inc-1").incident is incident
        assert [p.incident.ref for p in list_postmortems(session)] == ["INC-1"]


def test_unreadable_sources_are_said_in_the_facts_not_raised(incident_engine, tmp_path):
    (tmp_path / "file").write_text("")
    broken = FactSources(tmp_path / "home", f"sqlite:///{tmp_path / 'file' / 'sluice.db'}", api_url=closed_port_url())
    with transaction(incident_engine) as session:
        incident = scripted_incident(session, flow_run_id="8d7f3c2e-4a1b-4c5d-9e6f-0a1b2c3d4e5f")
        facts = collect_facts(incident, broken, now=NOW)

    assert "could not be read: ConnectError" in facts.history.unavailable
    assert facts.impact.unavailable.startswith("the metadata store could not be read")
    assert facts.impact.runs == 0 and facts.impact.sla_minutes_breached == 12.0


def test_publish_writes_the_file_and_reports_a_missing_prefect_api(incident_engine, sources, tmp_path):
    with transaction(incident_engine) as session:
        incident = scripted_incident(session)
        postmortem = create_postmortem(session, incident, sources, now=NOW).postmortem
        target = default_path(tmp_path / "home", incident)
        written = publish_postmortem(session, postmortem, target, now=minutes(25 * 60))
    publication = attach_publication(written, api_url=None)

    assert target == tmp_path / "home" / "postmortems" / "INC-1.md"
    assert target.read_text(encoding="utf-8") == postmortem.markdown
    assert postmortem.path == str(target) and postmortem.published_at == minutes(25 * 60)
    assert written.artifact is None and written.flow_run_id == "run-a"
    store = store_identity(incident_engine.url)
    assert publication.artifact is not None and publication.artifact.key == f"dev-postmortem-{store}-inc-1"
    assert "PREFECT_API_URL is not set" in publication.artifact.error


def test_publish_to_an_unwritable_place_says_so(incident_engine, sources, tmp_path):
    (tmp_path / "file").write_text("")
    with transaction(incident_engine) as session:
        postmortem = create_postmortem(session, scripted_incident(session), sources, now=NOW).postmortem
        with pytest.raises(PostmortemError, match="cannot write") as info:
            publish_postmortem(session, postmortem, tmp_path / "file" / "pm.md")

    assert info.value.hint == "choose another file with --out"


def test_an_open_incident_is_measured_until_now_and_says_what_is_still_to_come(incident_engine, sources):
    with transaction(incident_engine) as session:
        incident = trigger(session, scripted_trigger()).incident
        drafted = create_postmortem(session, incident, sources, now=minutes(30))

    assert drafted.facts.impact.window_end == minutes(30) and drafted.facts.impact.sla_minutes_breached == 30.0
    resolution = _section(drafted.postmortem.markdown, "Resolution")
    assert "Not mitigated yet. Not resolved yet." in resolution
    assert "| Time to resolve | - |" in _section(drafted.postmortem.markdown, "Detection")


def test_correlation_results_on_the_timeline_are_supporting_information(incident_engine, sources):
    from ops.incidents.service import record

    with transaction(incident_engine) as session:
        incident = scripted_incident(session)
        record(
            session,
            incident,
            "correlation",
            "ops",
            "correlation: top suspect worker_mem (resource=memory)",
            at=minutes(30),
        )
        markdown = create_postmortem(session, incident, sources, now=NOW).postmortem.markdown

    support = _section(markdown, "Supporting information")
    assert "Infrastructure suspects (`ops correlate`)" in support
    assert "correlation: top suspect worker_mem (resource=memory)" in support
