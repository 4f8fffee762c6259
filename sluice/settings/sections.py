"""The sections of the settings besides ``notify``: metrics, incidents, runbooks, crashes, chaos and the CLI.

Each is read from its own ``SLUICE_*`` variables (see :mod:`sluice.settings.sources`)
and reached as ``get_settings().<section>``.
"""

from __future__ import annotations

import enum
from pathlib import Path

from pydantic import Field

from sluice.settings.sources import PREFIX, Section


class MetricsBackend(enum.StrEnum):
    EMBEDDED = "embedded"
    PROMETHEUS = "prometheus"


class MetricsSettings(Section):
    """Where metrics are kept and how runs sample them, read by :mod:`ops.metrics`."""

    env_prefix = PREFIX
    title = "Metrics"

    metrics_backend: MetricsBackend = Field(
        default=MetricsBackend.EMBEDDED,
        description=(
            "`embedded`: Parquet files under `$SLUICE_HOME/metrics`; `prometheus`: Prometheus's HTTP API at "
            "`SLUICE_PROMETHEUS_URL`."
        ),
    )
    prometheus_url: str = Field(
        default="http://127.0.0.1:9090", description=("Prometheus server used by the `prometheus` backend.")
    )
    prometheus_timeout: float = Field(default=10.0, description="Seconds before a request to Prometheus gives up.")
    metrics_compact_files: int = Field(
        default=64,
        description=(
            "In the embedded store, a partition with this many part files is compacted into one after a write."
        ),
    )
    metrics_sampler: bool = Field(
        default=True,
        description=(
            "Whether each `ingest-files` run samples its host, its own process and its Dask workers into the metrics "
            "store. Off with the `prometheus` backend, where Prometheus scrapes the exporter instead."
        ),
    )
    metrics_sample_seconds: float = Field(default=2.0, description="Seconds between two samples of the run's sampler.")
    metrics_service: bool = Field(
        default=True,
        description=(
            "Whether `make run` starts the background sampler service (`python -m ops.metrics.service`), which "
            "samples the host into the metrics store whether a run is going or not; `ops metrics sampler stop` "
            "stops it."
        ),
    )
    metrics_service_seconds: float = Field(
        default=5.0, gt=0, description="Seconds between two host samples of the background sampler service."
    )


class IncidentSettings(Section):
    """Where incidents, their timelines and the notification outbox are kept, read by :mod:`ops.incidents`."""

    env_prefix = PREFIX
    title = "Incidents"

    incidents_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the incident store; `postgresql+psycopg://user@host/db` for PostgreSQL. The schema is "
            "migrated to the newest revision when a process first opens it."
        ),
    )

    def store_url(self, home: Path) -> str:
        """``incidents_url``, or SQLite under ``home``."""
        return self.incidents_url or f"sqlite:///{home / 'incidents.db'}"


class RunbookSettings(Section):
    """Where the runbooks are, read by :mod:`ops.runbooks`."""

    env_prefix = PREFIX
    title = "Runbooks"

    runbooks_dir: Path | None = Field(
        default=None,
        description=(
            "Folder of the runbooks `ops runbook` and incident matching read; unset, the runbooks installed with "
            "Sluice."
        ),
    )


class CrashSettings(Section):
    """Thresholds of crash detection, read by :mod:`ops.crashes` and the ``detect-crashes`` flow."""

    env_prefix = f"{PREFIX}CRASH_"
    title = "Crash detection"

    heartbeat_seconds: float = Field(
        default=30.0,
        gt=0,
        description=("The heartbeat interval assumed for a run that did not record its own (at least 30 s)."),
    )
    missed_heartbeats: int = Field(
        default=3,
        ge=1,
        description=("A run is Crashed after this many of its heartbeat intervals without a heartbeat."),
    )
    grace_seconds: float = Field(
        default=60.0,
        ge=0,
        description=("Seconds a Crashed run is left to its own on_crashed hook before the sweep opens its incident."),
    )
    lookback_hours: float = Field(
        default=24.0, gt=0, description=("How far back the sweep looks for Crashed runs without an incident.")
    )
    max_runs: int = Field(
        default=500, ge=1, description=("The most Running and Crashed runs one sweep reads from the Prefect API.")
    )


class ChaosSettings(Section):
    """Chaos drills: where they may run, whether they page, how often they probe; read by :mod:`chaos`."""

    env_prefix = f"{PREFIX}CHAOS_"
    title = "Chaos drills"

    environments: list[str] = Field(
        default_factory=lambda: ["dev", "staging"],
        description=(
            "The environments drills may run in (JSON list): prod is refused unless a drill is started with an "
            "explicit override."
        ),
    )
    page: bool = Field(
        default=False,
        description=(
            "Whether incidents opened by drills may page anyone; drill incidents are flagged and skip notification "
            "unless this is true."
        ),
    )
    probe_seconds: float = Field(
        default=2.0, gt=0, description=("How often the steady-state hypothesis is checked while a drill's method runs.")
    )
    kafka_broker_pids: list[int] = Field(
        default_factory=list,
        description=(
            "Process ids of the Kafka broker(s) on this host that the Kafka broker drill freezes (SIGSTOP, then "
            "SIGCONT) mid-run, as a JSON list, e.g. `[4242]`; unset, that drill is refused as not runnable here."
        ),
    )


class CliSettings(Section):
    """How the ``ops`` command line behaves, read by :mod:`ops.cli`."""

    env_prefix = PREFIX
    title = "The ops CLI"

    cli_raise: bool = Field(
        default=False,
        description=(
            "`true` (or `1`): an unexpected exception in an `ops` command propagates with its traceback instead of "
            "a one-line error (tests set it)."
        ),
    )
