"""Optimizing a dataset's table as the lake-maintenance flow and ``ops lake optimize`` do: the contract's layout,
under the dataset's commit lease, with a manifest for the new version."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sluice.lake.lease import hold_lease, holder_name
from sluice.lake.maintain import MIB, OptimizeResult, optimize_table
from sluice.lake.manifest_write import manifest_writer
from sluice.lake.table import table_uri
from sluice.runs.metastore import engine_for
from sluice.settings import Settings
from sluice.validate.contracts import find_contract


@dataclass(frozen=True)
class LayoutPlan:
    """The layout a dataset's table is optimized to: Z-order columns (none: compaction) and target file size."""

    dataset: str
    zorder: list[str]
    target_size: int
    every_partition: bool = False  # Z-order dates held in one file too (asked for by hand)


def layout_plan(
    settings: Settings, dataset: str, *, zorder: list[str] | None = None, target_mb: int | None = None
) -> LayoutPlan:
    """The contract's ``maintenance`` layout, overridden by ``zorder`` and ``target_mb`` when given.

    Raises:
        ContractError: no contract for ``dataset``.
    """
    spec = find_contract(dataset, settings.contracts_root()).maintenance
    columns = list(spec.zorder) if zorder is None else list(zorder)
    size = target_mb or spec.target_file_mb or settings.maintain.target_file_mb
    return LayoutPlan(dataset, columns, size * MIB, every_partition=zorder is not None)


def optimize_dataset(settings: Settings, plan: LayoutPlan, *, run_id: str) -> OptimizeResult:
    """Optimize ``plan.dataset``'s table holding its commit lease, so ingestions take turns with it.

    The rewrite's version gets its manifest, as a run's commit does.

    Raises:
        LakeError: no table, or a Z-order column the table lacks.
        LeaseTimeoutError: another writer kept the lease for ``SLUICE_LEASE_WAIT_SECONDS``.
        LakeConflictError: writers outside the lease changed the files on every attempt.
    """
    uri = table_uri(settings.lake_root(), plan.dataset)
    opts = dict(settings.lake_storage_options)
    manifests = manifest_writer(settings)
    engine = engine_for(settings.metadata_db_url())
    with hold_lease(
        engine,
        plan.dataset,
        holder_name(run_id),
        ttl_s=settings.lease_ttl_seconds,
        wait_s=settings.lease_wait_seconds,
    ) as held:
        result = optimize_table(
            uri,
            zorder=plan.zorder,
            target_size=plan.target_size,
            storage_options=opts or None,
            metadata={"dataset": plan.dataset, "run_id": run_id, "lease_token": held.token},
            before_commit=held.ensure_held,
            every_partition=plan.every_partition,
        )
        if result.changed:
            manifests.record(plan.dataset, uri, result.version_after, opts)
    return dataclasses.replace(result, lease_token=held.token)
