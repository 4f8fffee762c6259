"""The telemetry section: how Sluice's and Prefect's loggers write (traces follow OpenTelemetry's own variables)."""

from __future__ import annotations

import enum

from pydantic import Field

from sluice.settings.sources import PREFIX, Section


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class TelemetrySettings(Section):
    """Log format, read by :mod:`sluice.telemetry.logs`."""

    env_prefix = PREFIX
    title = "Telemetry"

    log_format: LogFormat = Field(
        default=LogFormat.TEXT,
        description=(
            "`text`: Prefect's console lines; `json`: one JSON object a line (time, severity, logger, message, run "
            "id, flow, task, dataset, stage) from Prefect's and Sluice's loggers on stderr."
        ),
    )
