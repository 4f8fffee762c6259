"""Errors of the ``ops`` package.

    SluiceError                 (sluice.errors)
    └── OpsError
        ├── BaselineInputError  a series that cannot be scored or fitted
        ├── RuleFileError       an alert rule file that does not load or validate
        ├── IncidentError       an incident that does not exist or cannot change as asked
        │   └── TransitionError a status change the lifecycle does not allow
        ├── RunbookError        a runbook that does not exist or does not parse
        └── ChaosError          an experiment that does not validate, or a drill the guard refuses
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


class RunbookError(OpsError):
    """A runbook that does not exist or does not parse."""


class ChaosError(OpsError):
    """A chaos experiment that does not load or validate, or a drill the blast-radius guard refuses."""
