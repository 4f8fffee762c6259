"""Errors of the ``ops`` package.

    SluiceError                 (sluice.errors)
    └── OpsError
        ├── BaselineInputError  a series that cannot be scored or fitted
        └── RuleFileError       an alert rule file that does not load or validate
"""

from __future__ import annotations

from sluice.errors import SluiceError


class OpsError(SluiceError):
    """Base of errors raised by ``ops`` services."""


class BaselineInputError(OpsError):
    """A series that cannot be scored or fitted as given."""


class RuleFileError(OpsError):
    """An alert rule file that does not load or validate."""
