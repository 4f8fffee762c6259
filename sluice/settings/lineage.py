"""OpenLineage: where run events go (:mod:`sluice.lineage`), under which namespace."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr

from sluice.settings.sources import PREFIX, Section


class LineageTransport(StrEnum):
    NONE = "none"
    HTTP = "http"
    FILE = "file"
    CONSOLE = "console"


class LineageSettings(Section):
    """The OpenLineage events every flow run emits (START, then COMPLETE or FAIL)."""

    env_prefix = f"{PREFIX}LINEAGE_"
    title = "Lineage"

    transport: LineageTransport = Field(
        default=LineageTransport.NONE,
        description=(
            "Where OpenLineage run events go: `none` (not emitted), `http` (Marquez or any OpenLineage backend at "
            "`SLUICE_LINEAGE_URL`), `file` (JSON lines appended to `SLUICE_LINEAGE_FILE`) or `console` (the log)."
        ),
    )
    url: str | None = Field(
        default=None,
        description="Base URL of the OpenLineage backend for the `http` transport, `http://marquez:5000`.",
    )
    endpoint: str = Field(
        default="api/v1/lineage", description="Path of the backend's lineage endpoint, under `SLUICE_LINEAGE_URL`."
    )
    api_key: SecretStr | None = Field(
        default=None, description="Bearer API key sent to the `http` backend. Never logged."
    )
    file: str | None = Field(default=None, description="File the `file` transport appends one JSON event per line to.")
    namespace: str = Field(
        default="sluice",
        min_length=1,
        description="OpenLineage namespace of Sluice's jobs, one per deployment of Sluice (`sluice-prod`).",
    )
    timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description=(
            "Seconds one event may take to send (connecting and reading); a slow or absent backend costs a run "
            "at most about twice this per event, and never fails it."
        ),
    )
