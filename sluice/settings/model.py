"""The settings root: the core settings of ingestion, and a field per section of ``ops`` and ``chaos``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from sluice.settings.access import AccessSettings
from sluice.settings.apis import ApiSettings
from sluice.settings.cost import CostSettings
from sluice.settings.databases import DatabaseSettings
from sluice.settings.lineage import LineageSettings
from sluice.settings.maintenance import MaintenanceSettings
from sluice.settings.manifests import ManifestSettings
from sluice.settings.notify import NotifySettings
from sluice.settings.protection import ProtectionSettings
from sluice.settings.registry import RegistrySettings
from sluice.settings.sections import (
    ChaosSettings,
    CliSettings,
    CrashSettings,
    IncidentSettings,
    MetricsSettings,
    RunbookSettings,
)
from sluice.settings.sources import (
    PREFIX,
    FlatEnvSource,
    UnknownVariable,
    invalid_settings,
    unknown_variables,
)
from sluice.settings.streams import StreamSettings
from sluice.settings.telemetry import TelemetrySettings

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
    """Where ingestion reads, validates, stages and commits, and with how many workers.

    Every field maps to ``SLUICE_<FIELD>``; each section (``notify``,
    ``metrics``...) reads its own variables, with the names given in its class.
    """

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid")

    env: Environment = Field(
        default="dev",
        description=(
            "The environment this process runs in. Environments differ only by configuration; chaos drills compare "
            "it with their `--env`."
        ),
    )
    home: Path = Field(
        default_factory=lambda: Path.cwd() / ".sluice",
        description=("Root of every local default below (lake, quarantine, staging, metadata, incidents, metrics)."),
    )
    lake_uri: str | None = Field(
        default=None,
        description=(
            "Lake root, one Delta table per dataset. `s3://bucket/prefix` works (see `SLUICE_LAKE_STORAGE_OPTIONS`)."
        ),
    )
    quarantine_uri: str | None = Field(
        default=None, description=("The quarantine Delta table, where rows that fail validation go with their reason.")
    )
    quarantine_retention_days: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Quarantine entries ingested more than this many days ago are deleted by the `lake-maintenance` flow "
            "(and their files vacuumed after its retention); unset keeps them."
        ),
    )
    staging_dir: Path | None = Field(
        default=None,
        description=(
            "Per-run staging of validated chunks; a run removes its own, the `lake-maintenance` deployment clears what "
            "killed runs left."
        ),
    )
    staging_uri: str | None = Field(
        default=None,
        description=(
            "Staging on an object store (`s3://bucket/staging`), reached with `SLUICE_LAKE_STORAGE_OPTIONS`; set it "
            "when Dask workers run on other hosts, so each stages where the flow and the others read. Overrides "
            "`SLUICE_STAGING_DIR`."
        ),
    )
    # A run folder in staging whose owner runs on another host (or that has
    # no owner file) is stale once nothing in it changed for this long.
    # Owners on this host are checked directly: a folder is stale as soon as
    # its process is gone. Set it above the longest run.
    staging_stale_hours: float = Field(
        default=24.0,
        gt=0,
        description=(
            "Hours without a change after which a staging folder whose owner cannot be checked (another host, "
            "no owner file) is stale; folders of dead processes on this host go at once."
        ),
    )
    metadata_url: str | None = Field(
        default=None,
        description=("SQLAlchemy URL of the run records; `postgresql+psycopg://user@host/db` for PostgreSQL."),
    )
    contracts_dir: Path | None = Field(
        default=None, description=("Folder of the dataset contracts, one YAML file per dataset.")
    )
    dask_address: str | None = Field(
        default=None,
        description=("`tcp://host:8786` of an existing Dask scheduler. Such a cluster keeps its own settings."),
    )
    dask_workers: int = Field(
        default=2, description=("Workers of the LocalCluster a run starts when `SLUICE_DASK_ADDRESS` is unset.")
    )
    dask_max_workers: int | None = Field(
        default=None,
        ge=1,
        description=(
            "With it, the LocalCluster adapts between `SLUICE_DASK_WORKERS` and this many workers as tasks queue "
            "up and drain (Dask's adaptive scaling); unset: a fixed count. A cluster at `SLUICE_DASK_ADDRESS` "
            "scales by its own cluster manager."
        ),
    )
    dask_processes: bool = Field(
        default=False,
        description=(
            "`false`: the LocalCluster's workers are threads in the flow process (no start-up imports, one copy of "
            "everything in memory; a worker that runs out of memory takes the run with it). `true`: worker processes, "
            "isolated and killable, forked from a fork server that imports Prefect, pandera and the tasks once."
        ),
    )
    # None: THREAD_CHUNK_ROWS or PROCESS_CHUNK_ROWS, see rows_per_chunk().
    chunk_rows: int | None = Field(
        default=None, ge=1, description=("Rows per validated chunk; bounds each worker's memory.")
    )
    group_bytes: int = Field(
        default=256 * 1024 * 1024,
        description=("Bytes of source files per Prefect task (a task stages one group of files)."),
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            'fsspec options for the sources, as JSON (for example `{"endpoint_url": "http://127.0.0.1:9000", '
            '"key": "…", "secret": "…"}`).'
        ),
    )
    lake_storage_options: dict[str, str] = Field(
        default_factory=dict,
        description=("delta-rs storage options as a JSON object of strings, when the lake is on S3."),
    )
    # Per-record limits: a larger or deeper record is quarantined with its
    # reason and an excerpt, and the rest of its file is read.
    max_record_bytes: int = Field(
        default=RecordLimits.max_record_bytes,
        ge=1024,
        description=(
            "A record (a JSON line) larger than this is quarantined as record_too_large, unparsed, with an excerpt."
        ),
    )
    max_nesting_depth: int = Field(
        default=RecordLimits.max_nesting_depth,
        ge=1,
        le=500,
        description=("A record nested deeper than this is quarantined as too_deeply_nested before any parser sees it."),
    )
    max_field_bytes: int = Field(
        default=RecordLimits.max_field_bytes,
        ge=64,
        description=("A field larger than this quarantines its row as field_too_large, keeping a 1 KiB excerpt."),
    )
    # The commit lease of a dataset (sluice.lake.lease): how long a holder that
    # stopped renewing keeps it, and how long a run waits for it.
    lease_ttl_seconds: float = Field(
        default=60.0, gt=0, description=("Seconds a dataset's commit lease outlives a holder that stopped renewing it.")
    )
    lease_wait_seconds: float = Field(
        default=1800.0, ge=0, description=("Seconds a run waits for its dataset's commit lease before it fails.")
    )

    notify: NotifySettings = Field(default_factory=NotifySettings, description="Notification channels and delivery.")
    metrics: MetricsSettings = Field(default_factory=MetricsSettings, description="The metrics store and sampler.")
    incidents: IncidentSettings = Field(default_factory=IncidentSettings, description="The incident store.")
    runbooks: RunbookSettings = Field(default_factory=RunbookSettings, description="The runbook folder.")
    crash: CrashSettings = Field(default_factory=CrashSettings, description="Crash detection thresholds.")
    chaos: ChaosSettings = Field(default_factory=ChaosSettings, description="Chaos drills.")
    cli: CliSettings = Field(default_factory=CliSettings, description="The `ops` command line.")
    databases: DatabaseSettings = Field(default_factory=DatabaseSettings, description="Database sources.")
    registry: RegistrySettings = Field(
        default_factory=RegistrySettings, description="The schema registry of typed stream messages."
    )
    streams: StreamSettings = Field(default_factory=StreamSettings, description="Stream sources.")
    apis: ApiSettings = Field(default_factory=ApiSettings, description="REST API sources.")
    manifests: ManifestSettings = Field(
        default_factory=ManifestSettings, description="Signing and verification of run manifests."
    )
    lineage: LineageSettings = Field(default_factory=LineageSettings, description="OpenLineage run events.")
    access: AccessSettings = Field(
        default_factory=AccessSettings, description="Governed reads: policies, the OIDC issuer, the access audit."
    )
    protect: ProtectionSettings = Field(
        default_factory=ProtectionSettings, description="Tokenisation and encryption keys of PII columns."
    )
    cost: CostSettings = Field(default_factory=CostSettings, description="The rates runs are priced at.")
    maintain: MaintenanceSettings = Field(
        default_factory=MaintenanceSettings, description="Compaction of the lake tables."
    )
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings, description="Log format.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then one flat ``SLUICE_*`` variable per field, sections included."""
        return init_settings, FlatEnvSource(settings_cls)

    @classmethod
    def from_env(cls) -> Settings:
        """The settings from the environment.

        Raises:
            ConfigError: a variable is invalid; the message names each, with what it takes.
        """
        try:
            return cls()
        except ValidationError as exc:
            raise invalid_settings(exc, cls) from None

    @model_validator(mode="after")
    def _adaptive_bounds(self) -> Settings:
        if self.dask_max_workers is not None and self.dask_max_workers < self.dask_workers:
            raise ValueError(
                f"SLUICE_DASK_MAX_WORKERS ({self.dask_max_workers}) is below SLUICE_DASK_WORKERS "
                f"({self.dask_workers}), the fewest workers of an adaptive cluster"
            )
        return self

    def record_limits(self) -> RecordLimits:
        return RecordLimits(self.max_record_bytes, self.max_nesting_depth, self.max_field_bytes)

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

    def staging_location(self) -> str:
        """Where runs stage: ``staging_uri`` if set, else the local :meth:`staging_root`."""
        return self.staging_uri or str(self.staging_root())

    def metadata_db_url(self) -> str:
        return self.metadata_url or f"sqlite:///{self.home / 'sluice.db'}"

    def contracts_root(self) -> Path:
        return self.contracts_dir or Path(__file__).parents[1] / "contracts"

    def apis_root(self) -> Path:
        return self.apis.apis_dir or self.contracts_root() / "apis"

    def audit_root(self) -> str:
        return self.access.audit_uri or str(self.home / "audit" / "access")


_cached: tuple[tuple[tuple[str, str], ...], Settings] | None = None


def _sluice_environ() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(PREFIX)))


def get_settings(*, fresh: bool = False) -> Settings:
    """The process settings, read once and again whenever a ``SLUICE_*`` variable changed.

    ``fresh=True`` re-reads them regardless (the default ``home`` follows the
    working directory of the first read).

    Raises:
        ConfigError: a variable is invalid; the message names each, with what it takes.
    """
    global _cached
    environ = _sluice_environ()
    cached = _cached
    if fresh or cached is None or cached[0] != environ:
        cached = _cached = (environ, Settings.from_env())
    return cached[1]


def unknown_settings(environ: Mapping[str, str] | None = None) -> list[UnknownVariable]:
    """The ``SLUICE_*`` variables of ``environ`` (the process's by default) that no setting reads."""
    return unknown_variables(os.environ if environ is None else environ, Settings)
