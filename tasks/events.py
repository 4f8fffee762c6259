"""Prefect events of the lake: a dataset's new table version landed (deployment triggers start on them).

``sluice.dataset.committed`` names the dataset as its resource
(``sluice.dataset.<name>``, with ``prefect.resource.name`` the dataset and
``sluice.env`` the environment) and carries the new table version, the rows
written, updated and deleted, and the run id in its payload. A run that
commits several times (a stream's batches, a capture's) names every version
it committed (``versions``) and the last as ``version``; a capture into
``<dataset>_changes`` names that table as the dataset. Emitted from a
flow run, Prefect relates the event to that run, its flow and deployment.
The flow emits it only after a commit that changed the table and was not
rolled back (a run that failed some files emits it too: its other files landed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prefect.events import Event, emit_event

from sluice.runs.records import RunReport

COMMITTED = "sluice.dataset.committed"
RESOURCE_PREFIX = "sluice.dataset."
logger = logging.getLogger(__name__)


def dataset_resource(dataset: str) -> str:
    """The event resource id of ``dataset`` (``sluice.dataset.orders``)."""
    return f"{RESOURCE_PREFIX}{dataset}"


def emit_committed(report: RunReport, versions: Sequence[int] = (), table: str = "") -> Event | None:
    """Tell Prefect that ``report``'s run landed a new version of its dataset (``table`` if given); never raises.

    ``versions``: every version the run committed, when it committed more than one.
    Returns the event sent, or ``None`` when the report holds no version or the event could not be sent.
    """
    if report.lake_version is None:
        return None
    dataset = table or report.dataset
    try:
        return emit_event(
            event=COMMITTED,
            resource={
                "prefect.resource.id": dataset_resource(dataset),
                "prefect.resource.name": dataset,
                "sluice.env": report.env,
            },
            payload={
                "version": report.lake_version,
                "versions": sorted(set(versions)) or [report.lake_version],
                "rows_written": report.rows_written,
                "rows_updated": report.rows_updated,
                "rows_deleted": report.rows_deleted,
                "run_id": report.run_id,
                "flow": report.flow,
            },
        )
    except Exception as exc:  # noqa: BLE001 - the data is in the lake; a lost event only delays the triggers
        logger.warning("the %s event of %s could not be sent: %s", COMMITTED, dataset, exc)
        return None
