"""The ``maintain`` section: how the lake-maintenance flow compacts dataset tables."""

from __future__ import annotations

from pydantic import Field

from sluice.settings.sources import PREFIX, Section


class MaintenanceSettings(Section):
    """File compaction of the lake tables, read by :mod:`sluice.lake.maintain` and the ``lake-maintenance`` flow."""

    env_prefix = f"{PREFIX}MAINTAIN_"
    title = "Lake maintenance"

    target_file_mb: int = Field(
        default=128,
        ge=1,
        description=(
            "Size in MiB that compaction and Z-ordering aim for in each data file of a dataset table, unless the "
            "dataset's contract sets `maintenance.target_file_mb`."
        ),
    )
