"""One settings object for Sluice, read from ``SLUICE_*`` environment variables.

Environments (dev, staging, prod) differ only by these values, never by code.
:func:`get_settings` returns a :class:`Settings`: the core settings of
ingestion as its own fields (``get_settings().lake_root()``), and one section
per area above it (``get_settings().notify.pagerduty_routing_key``,
``get_settings().chaos.page``). Every field has exactly one variable, named in
:mod:`sluice.settings.sources`; an invalid value is a ``ConfigError`` naming
it, and :func:`unknown_settings` finds ``SLUICE_*`` names no field reads.
"""

from sluice.settings.access import AccessSettings
from sluice.settings.cost import CostSettings
from sluice.settings.lineage import LineageSettings, LineageTransport
from sluice.settings.manifests import ManifestSettings
from sluice.settings.model import (
    PROCESS_CHUNK_ROWS,
    THREAD_CHUNK_ROWS,
    Environment,
    RecordLimits,
    Settings,
    get_settings,
    unknown_settings,
)
from sluice.settings.notify import CHANNELS, PAGERDUTY, SLACK, NotifySettings
from sluice.settings.protection import KekProvider, ProtectionSettings
from sluice.settings.registry import RegistrySettings
from sluice.settings.sections import (
    ChaosSettings,
    CliSettings,
    CrashSettings,
    IncidentSettings,
    MetricsBackend,
    MetricsSettings,
    RunbookSettings,
)
from sluice.settings.sources import Section, UnknownVariable, Variable, variables
from sluice.settings.streams import StreamSettings
from sluice.settings.telemetry import LogFormat, TelemetrySettings

__all__ = [
    "CHANNELS",
    "PAGERDUTY",
    "PROCESS_CHUNK_ROWS",
    "SLACK",
    "THREAD_CHUNK_ROWS",
    "AccessSettings",
    "ChaosSettings",
    "CliSettings",
    "CostSettings",
    "CrashSettings",
    "Environment",
    "IncidentSettings",
    "KekProvider",
    "LineageSettings",
    "LineageTransport",
    "LogFormat",
    "ManifestSettings",
    "MetricsBackend",
    "MetricsSettings",
    "NotifySettings",
    "ProtectionSettings",
    "RecordLimits",
    "RegistrySettings",
    "RunbookSettings",
    "Section",
    "Settings",
    "StreamSettings",
    "TelemetrySettings",
    "UnknownVariable",
    "Variable",
    "get_settings",
    "unknown_settings",
    "variables",
]
