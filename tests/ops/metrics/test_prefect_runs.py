"""Flow and task run metrics read from a real Prefect test server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from prefect import flow, task

from ops.metrics.collect import collect_prefect_metrics
from ops.metrics.errors import BackendUnavailableError
from ops.metrics.models import Selector
from tests.ops.factories import closed_port_url
from tests.ops.metrics.factories import store_at

pytestmark = pytest.mark.integration


@task(name="square-it")
def square(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return x * x


@flow(name="metrics-probe")
def probe(x: int) -> int:
    return square(x)


def test_flow_and_task_runs_become_duration_state_and_error_rate_samples(prefect_api, tmp_path):
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    probe(3)
    probe(-1, return_state=True)
    store = store_at(tmp_path)

    written = collect_prefect_metrics(store, since=since, environment="test")
    again = collect_prefect_metrics(store, since=since, environment="test", now=datetime.now(timezone.utc))

    end = datetime.now(timezone.utc) + timedelta(minutes=1)
    failed = store.query_range(Selector.parse('sluice_flow_run_failed{flow="metrics-probe"}'), since, end)
    assert sorted(failed[0].values.tolist()) == [0.0, 1.0]
    durations = store.query_range(Selector.parse('sluice_flow_run_duration_seconds{flow="metrics-probe"}'), since, end)
    assert {s.labels["state"] for s in durations} == {"COMPLETED", "FAILED"}
    (tasks,) = store.query_range(Selector.parse('sluice_task_run_duration_seconds{task="square-it"}'), since, end)
    assert len(tasks) == 2 and tasks.labels["flow"] == "metrics-probe"
    (rate,) = store.query_range(Selector.parse('sluice_flow_error_rate{flow="metrics-probe"}'), since, end)
    assert rate.values[-1] == 0.5
    assert written >= 7 and again == 1  # only a new error-rate sample at the new collection time


def test_an_unreachable_prefect_api_is_a_clear_error(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings({PREFECT_API_URL: closed_port_url() + "/api"}),
        pytest.raises(BackendUnavailableError, match="cannot read flow runs from the Prefect API"),
    ):
        collect_prefect_metrics(store_at(tmp_path), since=datetime.now(timezone.utc) - timedelta(hours=1))
