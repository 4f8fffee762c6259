"""OpenLineage events of a run: valid against the spec's schemas, with the run's counts, schema and lineage."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from openlineage.client.serde import Serde

from sluice.lineage.events import RunDatasets, end_event, run_uuid, start_event
from sluice.lineage.naming import location_dataset, source_dataset
from sluice.runs.records import RunReport
from sluice.validate.contracts import Contract, find_contract
from tests.sluice.lineage.spec import spec_errors

CONTRACTS = Path(__file__).parents[3] / "sluice" / "contracts"
RUN_ID = "0b6f2c3e-5d7a-4d1e-9a39-2f0c8b1e4a77"


def orders() -> Contract:
    return find_contract("orders", CONTRACTS)


def a_report(**counts: object) -> RunReport:
    values: dict[str, object] = {
        "rows_read": 10,
        "rows_written": 7,
        "rows_quarantined": 2,
        "rows_duplicate": 1,
        "status": "completed",
    }
    values.update(counts)
    return RunReport(
        RUN_ID,
        "orders",
        "/data/orders",
        "dev",
        datetime(2026, 3, 5, tzinfo=timezone.utc),
        finished_at=datetime(2026, 3, 5, 0, 1, tzinfo=timezone.utc),
        **values,  # type: ignore[arg-type]
    )


def datasets(source: str | None = "/data/orders") -> RunDatasets:
    return RunDatasets(
        table=location_dataset("/home/lake/orders"),
        quarantine=location_dataset("/home/quarantine"),
        source=source_dataset(source) if source else None,
    )


def as_json(event: object) -> dict:
    return json.loads(Serde.to_json(event))


def test_a_completed_run_is_a_valid_complete_event_with_the_reports_counts() -> None:
    report = a_report()
    event = as_json(
        end_event(namespace="sluice", flow_name="ingest-files", report=report, datasets=datasets(), contract=orders())
    )

    assert spec_errors(event) == []
    assert event["eventType"] == "COMPLETE" and event["run"]["runId"] == RUN_ID
    assert event["job"] == event["job"] | {"namespace": "sluice", "name": "ingest-files.orders"}
    (source,) = event["inputs"]
    assert (source["namespace"], source["name"]) == ("file", "/data/orders")
    assert source["inputFacets"]["dataQualityMetrics"]["rowCount"] == report.rows_read
    table, quarantine = event["outputs"]
    assert (table["namespace"], table["name"]) == ("file", "/home/lake/orders")
    assert table["outputFacets"]["outputStatistics"]["rowCount"] == report.rows_written
    assert quarantine["name"] == "/home/quarantine"
    assert quarantine["outputFacets"]["outputStatistics"]["rowCount"] == report.rows_quarantined
    counts = event["run"]["facets"]["sluice_counts"]
    assert (counts["rowsRead"], counts["rowsDuplicate"]) == (10, 1)


def test_the_schema_owner_and_column_lineage_come_from_the_contract() -> None:
    contract = orders()
    event = as_json(
        end_event(
            namespace="sluice", flow_name="ingest-files", report=a_report(), datasets=datasets(), contract=contract
        )
    )

    facets = event["outputs"][0]["facets"]
    assert [f["name"] for f in facets["schema"]["fields"]] == [c.name for c in contract.columns]
    assert facets["ownership"]["owners"] == [{"name": contract.owner}]
    lineage = facets["columnLineage"]["fields"]
    assert set(lineage) == {c.name for c in contract.columns}
    assert lineage["amount"]["inputFields"][0] | {"transformations": []} == {
        "namespace": "file",
        "name": "/data/orders",
        "field": "amount",
        "transformations": [],
    }


def test_a_failed_run_is_a_valid_fail_event_with_its_error() -> None:
    report = a_report(status="failed", error="ReadError: /data/orders/x.csv is not UTF-8")
    event = as_json(
        end_event(namespace="sluice", flow_name="ingest-files", report=report, datasets=datasets(), contract=orders())
    )

    assert spec_errors(event) == []
    assert event["eventType"] == "FAIL"
    assert event["run"]["facets"]["errorMessage"]["message"] == report.error


def test_a_start_event_is_valid_without_counts_and_without_a_known_source() -> None:
    event = as_json(
        start_event(
            namespace="sluice",
            flow_name="ingest-table",
            run_id=RUN_ID,
            dataset="orders",
            datasets=datasets(None),
            contract=orders(),
        )
    )

    assert spec_errors(event) == []
    assert event["eventType"] == "START" and event["inputs"] == []
    assert "outputStatistics" not in event["outputs"][0]["outputFacets"]


def test_the_validator_rejects_what_the_spec_forbids() -> None:
    event = as_json(
        end_event(
            namespace="sluice", flow_name="ingest-files", report=a_report(), datasets=datasets(), contract=orders()
        )
    )
    event["run"]["runId"] = "run-1"
    event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] = "seven"
    del event["job"]["namespace"]

    errors = spec_errors(event)

    assert any("runId" in e for e in errors)
    assert any("rowCount" in e for e in errors)
    assert any("namespace" in e for e in errors)


def test_a_run_id_that_is_no_uuid_maps_to_the_same_uuid_every_time() -> None:
    assert run_uuid("local-1700000000") == run_uuid("local-1700000000") != run_uuid("local-1700000001")
    assert run_uuid(RUN_ID) == RUN_ID


@pytest.mark.parametrize(
    ("source", "namespace", "name"),
    [
        ("/data/in", "file", "/data/in"),
        ("file:///data/in", "file", "/data/in"),
        ("s3://landing/orders/2026", "s3://landing", "orders/2026"),
        ("postgresql://app@db:5432/shop/sales.orders", "postgres://db:5432", "shop.sales.orders"),
        ("postgresql://app@db/shop/orders", "postgres://db:5432", "shop.public.orders"),
        ("mariadb://root@db:3306/shop/orders", "mysql://db:3306", "shop.orders"),
        ("postgres-cdc:sluice_orders:public.orders", "postgres-cdc://sluice_orders", "public.orders"),
        ("gs://bucket/key", "gs://bucket", "key"),
    ],
)
def test_sources_are_named_per_the_openlineage_naming_spec(source: str, namespace: str, name: str) -> None:
    found = source_dataset(source)
    assert (found.namespace, found.name) == (namespace, name)


def test_a_kafka_topic_is_named_by_its_first_bootstrap_server() -> None:
    found = source_dataset("kafka:orders", kafka_bootstrap_servers="k1:9093,k2:9092")
    assert (found.namespace, found.name) == ("kafka://k1:9093", "orders")
