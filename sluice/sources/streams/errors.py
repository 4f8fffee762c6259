"""The errors of stream sources: each one line, with what to do in its hint."""

from __future__ import annotations

from sluice.errors import SourceError, SourceUnreachableError


class StreamError(SourceError):
    """A stream source that cannot run as configured: broker settings, topic, group, permissions."""


class StreamUnreachableError(SourceUnreachableError):
    """The broker cannot be reached (retried with backoff)."""
