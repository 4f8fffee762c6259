"""The build-aggregates flow and its deployment trigger: each orders ingest starts a run that updates orders_daily."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
import yaml
from deltalake import DeltaTable

from sluice.aggregates.build import recompute
from sluice.lake.table import table_uri
from sluice.settings import get_settings
from tasks.events import COMMITTED, dataset_resource
from tests.factories import OrderBatch, good_orders, write_csv
from tests.flows.helpers import run_ingest

ROOT = Path(__file__).resolve().parents[2]
TRIGGERED_WITHIN_SECONDS = 90


def declared() -> dict[str, object]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (found,) = [d for d in config["deployments"] if d["name"] == "orders-daily"]
    return dict(found)


def test_the_orders_daily_deployment_is_triggered_by_each_orders_commit():
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    deployment = declared()
    path, _, name = str(deployment["entrypoint"]).partition(":")
    flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
    (raw,) = deployment["triggers"]  # type: ignore[misc]
    trigger = DeploymentEventTrigger.model_validate(raw)

    assert flow.name == "build-aggregates" and deployment["parameters"] == {"source": "orders"}
    assert trigger.enabled and trigger.expect == {COMMITTED} and trigger.posture.value == "Reactive"
    assert trigger.match.root == {"prefect.resource.id": dataset_resource("orders")}
    assert trigger.parameters == {"source": "orders"} and trigger.threshold == 1


@pytest.fixture()
def triggered_deployment(prefect_api) -> Iterator[UUID]:
    """orders-daily's flow and trigger, as prefect.yaml declares them, applied under a name of its own."""
    from prefect import get_client
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    from flows.build_aggregates import build_aggregates

    (raw,) = declared()["triggers"]  # type: ignore[misc]
    trigger = DeploymentEventTrigger.model_validate(raw)
    name = f"orders-daily-{os.urandom(4).hex()}"
    deployment_id = build_aggregates.to_deployment(
        name=name, parameters={"source": "orders"}, triggers=[trigger]
    ).apply()
    try:
        yield deployment_id
    finally:
        with get_client(sync_client=True) as client:
            client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
            client.delete_deployment(deployment_id)


def runs_of(deployment_id: UUID, count: int) -> list:
    """The flow runs of the deployment, oldest first, once there are ``count`` of them."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    deadline = time.monotonic() + TRIGGERED_WITHIN_SECONDS
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            )
            if len(runs) >= count or time.monotonic() > deadline:
                return runs
            time.sleep(1)


def committed_events(run_id: str) -> list:
    """The ``sluice.dataset.committed`` events the server holds of the flow run ``run_id``."""
    from prefect import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

    wanted = EventFilter(
        event=EventNameFilter(name=[COMMITTED]), related=EventRelatedFilter(id=[f"prefect.flow-run.{run_id}"])
    )
    with get_client(sync_client=True) as client:
        return list(client.read_events(filter=wanted, limit=10).events)  # the server takes at most 50


@pytest.mark.integration
def test_each_ingest_triggers_a_run_whose_aggregates_equal_a_recomputation(
    prefect_api, dask_address, sluice_home, triggered_deployment, tmp_path
):
    from prefect.flow_engine import run_flow

    from flows.build_aggregates import build_aggregates

    first = OrderBatch(rows=good_orders(30, start=1, day="2024-03-05") + good_orders(10, start=100, day="2024-03-06"))
    write_csv(tmp_path / "drop" / "a" / "orders.csv", first)
    later = OrderBatch(rows=good_orders(5, start=200, day="2024-03-06") + good_orders(4, start=300, day="2024-03-09"))
    write_csv(tmp_path / "drop" / "b" / "orders.csv", later)
    source = table_uri(get_settings().lake_root(), "orders")
    target = table_uri(get_settings().lake_root(), "orders_daily")

    ingested = run_ingest(dask_address, "orders", str(tmp_path / "drop" / "a"))
    landed = DeltaTable(source).version()
    (after_first,) = runs_of(triggered_deployment, 1)
    first_result = run_flow(build_aggregates, flow_run=after_first, parameters=after_first.parameters)
    repeat = run_ingest(dask_address, "orders", str(tmp_path / "drop" / "a"))  # nothing new: no event, no run
    ingested_later = run_ingest(dask_address, "orders", str(tmp_path / "drop" / "b"))
    runs = runs_of(triggered_deployment, 2)
    second_result = run_flow(build_aggregates, flow_run=runs[1], parameters=runs[1].parameters)

    assert repeat.rows_written == 0 and repeat.lake_version == landed
    assert len(runs) == 2, [r.name for r in runs]
    assert all(r.created_by is not None and r.created_by.type == "AUTOMATION" for r in runs)
    ((event,), (later_event,)) = committed_events(ingested.run_id), committed_events(ingested_later.run_id)
    assert event.resource.id == dataset_resource("orders") and event.resource["sluice.env"] == get_settings().env
    assert (event.payload["version"], event.payload["rows_written"]) == (landed, first.total)
    assert later_event.payload["version"] == DeltaTable(source).version() and committed_events(repeat.run_id) == []
    assert first_result.full and first_result.source_version == landed
    assert not second_result.full and second_result.days == 2 and second_result.consumed_before == landed
    assert second_result.source_version == DeltaTable(source).version() > landed
    found = DeltaTable(target).to_pyarrow_table().sort_by([("dt", "ascending"), ("currency", "ascending")])
    expected = recompute(source)
    assert found.drop_columns(["amount"]).equals(expected.drop_columns(["amount"]))
    assert found.column("amount").to_pylist() == pytest.approx(expected.column("amount").to_pylist())
    assert sum(found.column("orders").to_pylist()) == first.total + later.total
