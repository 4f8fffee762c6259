"""Sending OpenLineage events through the configured transport, never failing nor holding a run for long.

The transport is ``SLUICE_LINEAGE_TRANSPORT`` (:class:`sluice.settings.LineageSettings`):
``none`` sends nothing, ``http`` posts to an OpenLineage backend (Marquez)
with a bounded timeout and one retry, ``file`` appends JSON lines, ``console``
logs. Any failure to build or send an event is logged as a warning and the
run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import RunEvent
from openlineage.client.transport import Transport
from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport, TokenProvider

from sluice.errors import ConfigError
from sluice.settings import LineageSettings, LineageTransport

logger = logging.getLogger(__name__)
# Connect and read failures and 5xx answers are retried once, after a short pause.
RETRY = {"total": 1, "connect": 1, "read": 1, "backoff_factor": 0.2}


def ensure_transport_settings(settings: LineageSettings) -> None:
    """Raise ConfigError when the chosen transport lacks the setting it needs."""
    if settings.transport is LineageTransport.HTTP and not settings.url:
        raise ConfigError(
            "SLUICE_LINEAGE_TRANSPORT=http needs the backend's URL",
            hint="set SLUICE_LINEAGE_URL=http://marquez:5000, or SLUICE_LINEAGE_TRANSPORT=none",
        )
    if settings.transport is LineageTransport.FILE and not settings.file:
        raise ConfigError(
            "SLUICE_LINEAGE_TRANSPORT=file needs a file to write to",
            hint="set SLUICE_LINEAGE_FILE=/var/log/sluice/lineage.jsonl, or SLUICE_LINEAGE_TRANSPORT=none",
        )


def _transport(settings: LineageSettings) -> Transport:
    if settings.transport is LineageTransport.HTTP:
        key = settings.api_key.get_secret_value() if settings.api_key else None
        return HttpTransport(
            HttpConfig(
                url=settings.url or "",
                endpoint=settings.endpoint,
                timeout=settings.timeout_seconds,
                auth=ApiKeyTokenProvider({"api_key": key}) if key else TokenProvider({}),
                retry=RETRY,
            )
        )
    if settings.transport is LineageTransport.FILE:
        path = Path(settings.file or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileTransport(FileConfig(log_file_path=str(path), append=True))
    return ConsoleTransport(ConsoleConfig())


def client_for(settings: LineageSettings) -> OpenLineageClient | None:
    """The client of the configured transport; None when events are not sent."""
    if settings.transport is LineageTransport.NONE:
        return None
    ensure_transport_settings(settings)
    return OpenLineageClient(transport=_transport(settings))


def emit(settings: LineageSettings, build: Callable[[], RunEvent]) -> bool:
    """Build and send one event; True if it was sent. Never raises: a failure is logged and the caller goes on."""
    if settings.transport is LineageTransport.NONE:
        return False
    try:
        client = client_for(settings)
        if client is None:
            return False
        event = build()
        client.emit(event)
    except Exception:
        logger.warning("could not send an OpenLineage event (%s transport)", settings.transport.value, exc_info=True)
        return False
    return True
