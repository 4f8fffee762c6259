"""REST API sources: where their descriptions are, and the secrets they name."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from sluice.settings.sources import PREFIX, Section


class ApiSettings(Section):
    """The ``ingest-api`` flow's descriptions (:mod:`sluice.sources.api`) and the secrets they may name."""

    env_prefix = PREFIX
    title = "API sources"

    apis_dir: Path | None = Field(
        default=None,
        description="Folder of the API descriptions, one YAML file per API (default: `apis/` in the contracts folder).",
    )
    api_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description=(
            "Secrets the API descriptions name, as a JSON object `{name: value}`; a name not here is read from the"
            " Prefect Secret block of that name. Read again on each token fetch and after a 401. Never logged."
        ),
    )
