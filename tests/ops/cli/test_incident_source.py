"""``ops incident list --source``: drill incidents (failed runs' and alerts') apart from the others."""

from __future__ import annotations

import json

from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.models import Severity, Source
from ops.incidents.service import Trigger
from ops.respond.service import raise_incident
from ops.respond.sink import DrillFlag, IncidentSink
from tests.ops.alerts.factories import alert_event
from tests.ops.factories import invoke, sluice_home
from tests.ops.incidents.factories import T0


def _raise(home, source: Source, key: str, *, drill: bool) -> None:
    t = Trigger(
        title=f"ingest-files failed ({key})",
        severity=Severity.SEV3,
        source=source,
        dedup_key=key,
        environment="staging",
        text="flow run failed",
        is_drill=drill,
        flow_name="ingest-files",
    )
    with transaction(open_engine(store_url(home))) as session:
        raise_incident(session, t)


def test_source_filter_lists_only_drill_incidents(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    _raise(settings.home, Source.FLOW_FAILURE, "k1", drill=False)
    _raise(settings.home, Source.CHAOS_DRILL, "k2", drill=True)

    drills = json.loads(invoke("incident", "list", "--source", "chaos-drill", "-o", "json").stdout)
    both = json.loads(
        invoke("incident", "list", "--source", "chaos-drill", "--source", "flow-failure", "-o", "json").stdout
    )

    assert [(i["source"], i["is_drill"]) for i in drills] == [("chaos-drill", True)]
    assert len(both) == 2


def test_unknown_source_is_a_usage_error(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("incident", "list", "--source", "pager")

    assert result.exit_code == 2
    assert "chaos-drill" in result.output


def test_alert_incidents_a_drill_raised_are_listed_with_the_drill_incidents(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    engine = open_engine(store_url(settings.home))
    IncidentSink(engine, "staging").emit(alert_event(T0))
    IncidentSink(engine, "staging", DrillFlag("3f9c2a1b7d4e")).emit(alert_event(T0))

    drills = json.loads(invoke("incident", "list", "--source", "chaos-drill", "-o", "json").stdout)
    alerts = json.loads(invoke("incident", "list", "--source", "alert", "-o", "json").stdout)

    assert [(i["source"], i["is_drill"], i["dedup_key"].split("/")[0]) for i in drills] == [
        ("chaos-drill", True, "drill-3f9c2a1b7d4e")
    ]
    assert [(i["source"], i["is_drill"]) for i in alerts] == [("alert", False)]
