"""One settings object for Sluice, read from ``SLUICE_*`` environment variables.

Environments (dev, staging, prod) differ only by these values, never by code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "staging", "prod"]


THREAD_CHUNK_ROWS = 500_000
PROCESS_CHUNK_ROWS = 250_000


@dataclass(frozen=True)
class RecordLimits:
    """What one record may take before it is quarantined unread, so it can only hurt itself."""

    max_record_bytes: int = 4 * 1024 * 1024
    max_nesting_depth: int = 64
    max_field_bytes: int = 1024 * 1024


class Settings(BaseSettings):
    """Sluice configuration. Every field maps to ``SLUICE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="ignore")

    env: Environment = "dev"
    home: Path = Field(default_factory=lambda: Path.cwd() / ".sluice")
    lake_uri: str | None = None
    quarantine_uri: str | None = None
    staging_dir: Path | None = None
    # A run folder in staging whose owner runs on another host (or that has
    # no owner file) is stale once nothing in it changed for this long.
    # Owners on this host are checked directly: a folder is stale as soon as
    # its process is gone. Set it above the longest run.
    staging_stale_hours: float = Field(default=24.0, gt=0, description=(
        "Hours without a change after which a staging folder whose owner cannot be checked (another host, "
        "no owner file) is stale; folders of dead processes on this host go at once."))
    metadata_url: str | None = None
    contracts_dir: Path | None = None
    dask_address: str | None = None
    dask_workers: int = 2
    # False (the default): a LocalCluster's workers are threads in the flow
    # process; True: worker processes (isolated, killable) from a fork server.
    dask_processes: bool = False
    # None: THREAD_CHUNK_ROWS or PROCESS_CHUNK_ROWS, see rows_per_chunk().
    chunk_rows: int | None = Field(default=None, ge=1)
    group_bytes: int = 256 * 1024 * 1024
    storage_options: dict[str, Any] = Field(default_factory=dict)
    lake_storage_options: dict[str, str] = Field(default_factory=dict)
    # Per-record limits: a larger or deeper record is quarantined with its
    # reason and an excerpt, and the rest of its file is read.
    max_record_bytes: int = Field(default=RecordLimits.max_record_bytes, ge=1024, description=(
        "A record (a JSON line) larger than this is quarantined as record_too_large, unparsed, with an excerpt."))
    max_nesting_depth: int = Field(default=RecordLimits.max_nesting_depth, ge=1, le=500, description=(
        "A record nested deeper than this is quarantined as too_deeply_nested before any parser sees it."))
    max_field_bytes: int = Field(default=RecordLimits.max_field_bytes, ge=64, description=(
        "A field larger than this quarantines its row as field_too_large, keeping a 1 KiB excerpt."))

    def record_limits(self) -> RecordLimits:
        return RecordLimits(self.max_record_bytes, self.max_nesting_depth, self.max_field_bytes)
    # The commit lease of a dataset (sluice.lake.lease): how long a holder that
    # stopped renewing keeps it, and how long a run waits for it.
    lease_ttl_seconds: float = Field(default=60.0, gt=0, description=(
        "Seconds a dataset's commit lease outlives a holder that stopped renewing it."))
    lease_wait_seconds: float = Field(default=1800.0, ge=0, description=(
        "Seconds a run waits for its dataset's commit lease before it fails."))
    runbook_base_url: str | None = Field(default=None, description=(
        "Where runbooks are browsed: Prefect artifacts and notifications link a runbook as `<base>/<id>.md`; "
        "unset, artifacts link the runbook file itself (`file://`)."))

    def rows_per_chunk(self) -> int:
        """``chunk_rows`` if set; else larger chunks for thread workers than for worker processes.

        Thread workers share one process: its imports once, and a chunk each.
        A worker process carries its own imports, and a larger chunk in each
        would take two of them past 2 GiB at 20M rows. Threads also hold the
        GIL for every chunk's pandas and pandera bookkeeping, so fewer, larger
        chunks keep them from queueing on it.
        """
        if self.chunk_rows is not None:
            return self.chunk_rows
        local_threads = self.dask_address is None and not self.dask_processes
        return THREAD_CHUNK_ROWS if local_threads else PROCESS_CHUNK_ROWS

    def lake_root(self) -> str:
        return self.lake_uri or str(self.home / "lake")

    def quarantine_root(self) -> str:
        return self.quarantine_uri or str(self.home / "quarantine")

    def staging_root(self) -> Path:
        return self.staging_dir or self.home / "staging"

    def metadata_db_url(self) -> str:
        return self.metadata_url or f"sqlite:///{self.home / 'sluice.db'}"

    def contracts_root(self) -> Path:
        return self.contracts_dir or Path(__file__).parent / "contracts"


@lru_cache(maxsize=1)
def _cached() -> Settings:
    return Settings()


def get_settings(*, fresh: bool = False) -> Settings:
    """Return the process settings; ``fresh=True`` re-reads the environment."""
    if fresh:
        _cached.cache_clear()
    return _cached()



class ChaosSettings(BaseSettings):
    """Chaos drill configuration. Every field maps to ``SLUICE_CHAOS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="SLUICE_CHAOS_", extra="ignore")

    environments: list[str] = Field(default_factory=lambda: ["dev", "staging"], description=(
        "The environments drills may run in (JSON list): prod is refused unless a drill is started with an "
        "explicit override."))
    page: bool = Field(default=False, description=(
        "Whether incidents opened by drills may page anyone; drill incidents are flagged and skip notification "
        "unless this is true."))
    probe_seconds: float = Field(default=2.0, gt=0, description=(
        "How often the steady-state hypothesis is checked while a drill's method runs."))


def drills_page() -> bool:
    """True when drill incidents may page (``SLUICE_CHAOS_PAGE=true``); false by default."""
    return ChaosSettings().page
