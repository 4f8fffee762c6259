"""Errors of the ``ops`` package.

SluiceError                 (sluice.errors)
└── OpsError
    ├── BaselineInputError  a series that cannot be scored or fitted
    ├── RuleFileError       an alert rule file that does not load or validate
    ├── IncidentError       an incident that does not exist or cannot change as asked
    │   ├── TransitionError a status change the lifecycle does not allow
    │   ├── ActionItemError an action item that does not exist or does not validate
    │   └── PostmortemError a postmortem that does not exist, already exists or cannot be published
    ├── RunbookError        a runbook that does not exist or does not parse
    ├── NotifyError         a notification that cannot be queued or sent as configured
    ├── CorrelateInputError metrics that cannot be correlated with a failure as given
    ├── ChaosError          an experiment that does not validate, or a drill the guard refuses
    └── HealthCheckFailedError a scheduled health check found a dependency failing
"""

from __future__ import annotations

from sluice.errors import SluiceError


class OpsError(SluiceError):
    """Base of errors raised by ``ops`` services."""


class BaselineInputError(OpsError):
    """A series that cannot be scored or fitted as given."""


class RuleFileError(OpsError):
    """An alert rule file that does not load or validate."""


class IncidentError(OpsError):
    """An incident that does not exist, or cannot change as asked."""


class TransitionError(IncidentError):
    """A status change that the incident lifecycle does not allow."""


class ActionItemError(IncidentError):
    """An action item that does not exist, or whose fields do not validate."""


class PostmortemError(IncidentError):
    """A postmortem that does not exist, already exists, or cannot be written."""


class RunbookError(OpsError):
    """A runbook that does not exist or does not parse."""


class NotifyError(OpsError):
    """A notification that cannot be queued, or a channel that cannot be reached as configured."""


class CorrelateInputError(OpsError):
    """Metrics that cannot be correlated with a failure as given (bad file, window, columns or time)."""


class ChaosError(OpsError):
    """A chaos experiment that does not load or validate, or a drill the blast-radius guard refuses."""


class HealthCheckFailedError(OpsError):
    """A scheduled health check (the ``ops doctor`` checks) found at least one check failing."""

    hint = "run `ops doctor` where the worker runs: it names each failing check and what to do next"
