"""The errors of change data capture: each one line, with what to do in its hint."""

from __future__ import annotations

from sluice.errors import SourceError, SourceUnreachableError


class CdcError(SourceError):
    """Logical decoding cannot run as configured: server settings, slot, plugin, permissions."""


class SlotInUseError(CdcError):
    """Another consumer holds the replication slot right now (its ``active_pid``); a retry may find it free."""

    transient = True


class CdcUnreachableError(SourceUnreachableError):
    """The PostgreSQL server cannot be reached (retried with backoff)."""


class CdcDecodeError(CdcError):
    """A row of the decoding output that is not wal2json format-version 2."""


class SourceSchemaChangeError(CdcError):
    """The source table changed in a way the contract cannot take: the dataset stops until a human decides.

    The runbook is ``source-schema-change``.
    """

    runbook = "source-schema-change"
