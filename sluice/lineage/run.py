"""The lineage of a flow run, from what the flow knows: called by the flow's state hook (START) and by the
run record task (COMPLETE or FAIL), so that every flow emits without code of its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sluice.settings import LineageTransport, Settings, get_settings

if TYPE_CHECKING:
    from sluice.lineage.events import RunDatasets
    from sluice.runs.records import RunReport
    from sluice.validate.contracts import Contract

# The OpenLineage client, the lake and the contracts are imported only when events are sent: a flow whose
# lineage is off (the default) pays nothing for it.


def _contract(dataset: str, settings: Settings) -> Contract | None:
    from sluice.validate.contracts import find_contract

    try:
        return find_contract(dataset, settings.contracts_root())
    except Exception:  # noqa: BLE001 - a run without a contract still has lineage, without its schema
        return None


def run_datasets(dataset: str, source: str | None, settings: Settings) -> RunDatasets:
    """The run's lake table, the quarantine and, when known, its source, by their OpenLineage names."""
    from sluice.lake.table import table_uri
    from sluice.lineage.events import RunDatasets
    from sluice.lineage.naming import location_dataset, source_dataset

    servers = settings.streams.kafka_bootstrap_servers
    return RunDatasets(
        table=location_dataset(table_uri(settings.lake_root(), dataset)),
        quarantine=location_dataset(settings.quarantine_root()),
        source=source_dataset(source, kafka_bootstrap_servers=servers) if source else None,
    )


def emit_start(flow_name: str, run_id: str, parameters: Mapping[str, object]) -> bool:
    """Send START for a run whose parameters name its ``dataset`` (and, for files, its ``source``)."""
    settings = get_settings()
    dataset, source = parameters.get("dataset"), parameters.get("source")
    if settings.lineage.transport is LineageTransport.NONE or not isinstance(dataset, str):
        return False
    from sluice.lineage.emit import emit
    from sluice.lineage.events import start_event

    return emit(
        settings.lineage,
        lambda: start_event(
            namespace=settings.lineage.namespace,
            flow_name=flow_name,
            run_id=run_id,
            dataset=dataset,
            datasets=run_datasets(dataset, source if isinstance(source, str) else None, settings),
            contract=_contract(dataset, settings),
        ),
    )


def emit_end(flow_name: str, report: RunReport) -> bool:
    """Send COMPLETE or FAIL for the recorded run, with its counts."""
    settings = get_settings()
    if settings.lineage.transport is LineageTransport.NONE:
        return False
    from sluice.lineage.emit import emit
    from sluice.lineage.events import end_event

    return emit(
        settings.lineage,
        lambda: end_event(
            namespace=settings.lineage.namespace,
            flow_name=flow_name,
            report=report,
            datasets=run_datasets(report.dataset, report.source or None, settings),
            contract=_contract(report.dataset, settings),
        ),
    )
