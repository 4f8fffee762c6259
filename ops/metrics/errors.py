"""Errors of the metrics store, as branches of Sluice's exception tree.

    SluiceError
    ├── ConfigError
    │   ├── SelectorError          a series selector that does not parse
    │   └── DurationError          a duration or time that does not parse
    └── MetricsError               the metrics store cannot do what was asked
        ├── BackendUnavailableError   the backend cannot be reached or answered with an error
        └── ReadOnlyStoreError        the backend is not written through the store

Every message says what went wrong and every hint what to do next.
"""

from __future__ import annotations

from sluice.errors import ConfigError, SluiceError

SELECTOR_HINT = 'selectors look like metric{label="value",other!="value",name=~"regex.*"}'
DURATION_HINT = "durations look like 30s, 5m, 1h30m, 2d or 1w; times are ISO 8601 such as 2026-03-05T10:00:00Z"


class SelectorError(ConfigError):
    """A series selector that does not parse."""

    hint = SELECTOR_HINT


class DurationError(ConfigError):
    """A duration or a point in time that does not parse, or a time range that is empty."""

    hint = DURATION_HINT


class MetricsError(SluiceError):
    """The metrics store cannot do what was asked."""


class BackendUnavailableError(MetricsError):
    """The metrics backend cannot be reached, or answered with an error."""


class ReadOnlyStoreError(MetricsError):
    """The backend is not written through the store (Prometheus scrapes its targets)."""
