"""Database sources: named connections, SSH bastions, the look-back of incremental runs, fetch and split sizes."""

from __future__ import annotations

from pydantic import Field, SecretStr

from sluice.settings.sources import PREFIX, Section


class DatabaseSettings(Section):
    """Settings of the ``ingest-table`` flow (:mod:`sluice.sources.database`)."""

    env_prefix = PREFIX
    title = "Database sources"

    databases: dict[str, SecretStr] = Field(
        default_factory=dict,
        description=(
            'Named database connections as a JSON object, `{"shop": "postgresql://app:PW@db:5432/shop"}`; a run\'s '
            "`connection` names one. URLs are never logged. A Prefect Secret block name works too. TLS: libpq's "
            "`sslmode`, `sslrootcert`, `sslcert`, `sslkey` query parameters (MariaDB too); an SSH bastion: "
            "`ssh_host=BASTION&ssh_user=USER&ssh_key=/path/to/key` (and `ssh_port`, 22 by default)."
        ),
    )
    db_ssh_known_hosts: str = Field(
        default="",
        description=(
            "The known_hosts file an SSH bastion's host key is checked against (empty: `~/.ssh/known_hosts`). A "
            "bastion whose key it does not hold is refused."
        ),
    )
    db_ssh_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long connecting and logging in to an SSH bastion may take (seconds)."
    )
    cdc_dsn: SecretStr | None = Field(
        default=None,
        description=(
            "The PostgreSQL server `capture-changes` reads when a run names none, a libpq URL "
            "(`postgresql://app:PW@db:5432/shop`) or a name of `SLUICE_DATABASES`; `alerts-evaluate` samples its "
            "replication slots. Never logged."
        ),
    )
    db_lookback_seconds: float = Field(
        default=300.0,
        ge=0,
        description=(
            "How far before the previous position an incremental run starts again, for rows committed late with an "
            "earlier cursor value (seconds of a timestamp cursor, units of an integer one)."
        ),
    )
    db_fetch_rows: int = Field(
        default=50_000, gt=0, description="Rows fetched at a time from a MariaDB source (PostgreSQL streams COPY)."
    )
    db_snapshot_parts: int = Field(
        default=0,
        ge=0,
        description=(
            "Primary-key ranges a PostgreSQL snapshot is read in, in parallel; 0: twice the Dask workers. MariaDB "
            "snapshots are read by one reader (no snapshot to share)."
        ),
    )
