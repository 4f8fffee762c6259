"""The Grafana dashboards in dashboards/ parse, and query only metrics and labels Sluice exports."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ops.metrics.store_exporter import EXPORTED_METRICS
from tests.dashboards.factories import exported_labels, write_realistic_metrics
from tests.dashboards.promql import Query, label_problems, load, promtool_problems, queries, structure_problems

FOLDER = Path(__file__).parents[2] / "dashboards"
DASHBOARDS = sorted(FOLDER.glob("*.json"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    store = write_realistic_metrics(tmp_path_factory.mktemp("exported"), datetime.now(timezone.utc))
    return exported_labels(store)


def _problems(dashboard: dict[str, object], exported: dict[str, set[str]], folder: Path) -> list[str]:
    found = queries(dashboard)
    parsed = promtool_problems(found, folder)
    if parsed:
        return [parsed]
    return structure_problems(dashboard) + [p for q in found for p in label_problems(q, exported)]


def test_the_dashboards_are_there():
    assert {p.stem for p in DASHBOARDS} >= {"sluice-pipelines", "sluice-streams-cdc", "sluice-runs"}


def test_the_exporter_serves_every_pipeline_metric_and_the_host_metrics(exported):
    assert set(EXPORTED_METRICS) <= set(exported)
    assert "sluice_host_cpu_percent" in exported and "sluice_host_network_sent_bytes_total" in exported
    assert {"dataset", "flow", "environment"} <= exported["sluice_rows_written"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_a_dashboard_parses_and_queries_only_exported_metrics_and_labels(path, exported, tmp_path):
    dashboard = load(path)

    assert _problems(dashboard, exported, tmp_path) == []
    assert dashboard["uid"] == path.stem


def test_the_dashboards_cover_the_critical_metrics():
    text = "\n".join(q.expr for path in DASHBOARDS for q in queries(load(path)))

    for metric in (
        "sluice_stream_lag_messages",
        "sluice_freshness_seconds",
        "sluice_rows_written",
        "sluice_quarantine_rate",
        "sluice_rows_quarantined_by_reason",
        "sluice_cdc_slot_lag_bytes",
        "sluice_run_failed",
        "sluice_flow_run_failed",
        "sluice_flow_error_rate",
    ):
        assert metric in text, metric


def _doctored(expr: str) -> dict[str, object]:
    dashboard = copy.deepcopy(load(FOLDER / "sluice-pipelines.json"))
    panels = dashboard["panels"]
    assert isinstance(panels, list)
    panels[0]["targets"][0]["expr"] = expr
    return dashboard


@pytest.mark.parametrize(
    ("expr", "complaint"),
    [
        ('max(sluice_rows_writen{environment="test"})', "sluice_rows_writen is not a metric Sluice exports"),
        ('max by (dataset) (sluice_cdc_slot_lag_bytes{environment="test"})', "has no label 'dataset'"),
        ('sluice_rows_written{table="orders"}', "has no label 'table'"),
        ('{__name__="sluice_rows_written"}', "a selector without a metric name"),
    ],
)
def test_a_dashboard_naming_what_sluice_does_not_export_fails(expr, complaint, exported, tmp_path):
    problems = _problems(_doctored(expr), exported, tmp_path)

    assert any(complaint in p for p in problems), problems


def test_an_expression_prometheus_cannot_parse_fails(exported, tmp_path):
    problems = _problems(_doctored("sum by (dataset (sluice_rows_written)"), exported, tmp_path)

    assert len(problems) == 1 and "dashboard:query_0" in problems[0] and "parse error" in problems[0], problems


def test_a_panel_without_a_datasource_or_targets_fails():
    dashboard = _doctored("sluice_rows_written")
    panels = dashboard["panels"]
    assert isinstance(panels, list)
    del panels[0]["datasource"]
    panels[1]["targets"] = []
    del dashboard["uid"]

    problems = structure_problems(dashboard)

    assert "no uid" in problems
    assert any("datasource is not the ${datasource} variable" in p for p in problems)
    assert any("no targets" in p for p in problems)


def test_variable_queries_are_checked_too(exported):
    dashboard = load(FOLDER / "sluice-pipelines.json")
    variables = [q for q in queries(dashboard) if q.where.startswith("variable")]

    assert [q.where for q in variables] == ["variable 'environment'", "variable 'dataset'"]
    assert label_problems(Query("variable", "group by (tenant) (sluice_rows_written)"), exported) != []


def test_the_dashboards_are_valid_json_for_grafana_import():
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert isinstance(dashboard["panels"], list) and dashboard["schemaVersion"] >= 36
        assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
