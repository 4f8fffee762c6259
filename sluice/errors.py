"""Sluice's exception tree.

    SluiceError
    ├── ConfigError            settings or arguments that cannot work
    ├── ContractError          a dataset contract that does not load or validate
    ├── SourceError            a source that cannot be listed or read
    │   ├── IngestFailed           some files of a run could not be read; the rest were committed
│   ├── SourceNotFoundError
    │   ├── SourceUnreachableError  the endpoint or mount cannot be reached (transient)
    │   │   └── SchemaRegistryUnavailable  the schema registry cannot be reached or refuses Sluice
    │   ├── UnreadableFileError   corrupt, truncated or undecodable content
    │   ├── CompletenessError     the source's control totals disagree with what was read (strict policy)
    │   ├── ApiAuthError          an API refused the credentials, or none could be had
    │   └── ApiQuotaExhausted     an API's quota or rate limit outlasts the run's wait
    ├── LakeError              the Delta lake cannot be read or written
    │   ├── LakeConflictError    another writer committed first, every re-plan included (transient)
    │   ├── LeaseError           the dataset's commit lease
    │   │   ├── LeaseTimeoutError  another run held it the whole wait (transient)
    │   │   └── LeaseLostError     it expired or was taken over before the commit
    │   ├── ManifestError        a commit's run manifest that cannot be read, written or signed
    │   └── CommitVerificationError  a run's commit failed a check of its contract's verify block
    ├── AccessError            a governed read that cannot be allowed or run
    │   ├── TokenError           an identity token that does not validate
    │   ├── AccessDenied         no policy rule grants the principal the dataset (default deny)
    │   ├── PolicyError          a policy file that does not load or does not fit its table
    │   └── QueryError           a --where or --columns that cannot be parsed or used
    ├── ErasureBlockedError    a legal hold forbids an erasure or a retention delete
    └── ConservationError      counts of a run do not add up

Every message says what went wrong and what to do next. Errors are permanent
(``transient = False``) unless a retry may cure them.
"""

from __future__ import annotations


class SluiceError(Exception):
    """Base of every error Sluice raises on purpose."""

    hint: str = ""
    transient: bool = False

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint or self.hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n  hint: {self.hint}" if self.hint else base


class ConfigError(SluiceError):
    """A setting or argument that cannot work."""


class ContractError(SluiceError):
    """A dataset contract that does not load or is inconsistent."""


class SourceError(SluiceError):
    """A source that cannot be listed or read."""


class IngestFailed(SourceError):
    """Some files of a run could not be read; the others were committed."""


class SourceNotFoundError(SourceError):
    """The source path or bucket does not exist, or matches no files."""


class SourceUnreachableError(SourceError):
    """The source's endpoint, bucket or mount cannot be reached: retried with backoff."""

    transient = True


class SchemaRegistryUnavailable(SourceUnreachableError):
    """The schema registry of typed messages cannot be reached, or refuses the request: the batch is not decoded."""

    hint = "check SLUICE_SCHEMA_REGISTRY_URL and that the registry is up; the batch is read again on the next try"


class UnreadableFileError(SourceError):
    """A file whose bytes cannot be decoded: truncated, corrupt or undecodable."""


class CompletenessError(SourceError):
    """The source's control totals (a manifest, a ``count(*)``) disagree with what a run read, under ``strict``."""

    hint = "see `ops runs show RUN` for both sides; have the source deliver the data again, then rerun"


class ApiAuthError(SourceError):
    """An API or its token endpoint refused the credentials, or a secret could not be read."""


class ApiQuotaExhausted(SourceError):
    """An API's quota or rate limit resets later than the run may wait: the next run resumes where this one stopped."""


class LakeError(SluiceError):
    """The Delta lake cannot be read or written."""


class LakeConflictError(LakeError):
    """Another writer committed to the table between this writer's plan and its commit."""

    transient = True


class CommitVerificationError(LakeError):
    """A run's commit failed a check of its contract's ``verify:`` block; it was rolled back unless another
    writer had committed after it (:mod:`sluice.lake.rollback`)."""

    hint = "see the runbook lake-commit-rolled-back: `ops lake history DATASET` shows the rollback and its reason"


class LeaseError(LakeError):
    """The commit lease of a dataset could not be had or kept."""


class LeaseTimeoutError(LeaseError):
    """Another run held the dataset's commit lease for the whole wait."""

    transient = True


class LeaseLostError(LeaseError):
    """The lease expired or was taken over before the commit."""


class ManifestError(LakeError):
    """A commit's run manifest that cannot be found, read, written or signed."""


class AccessError(SluiceError):
    """A governed read that cannot be allowed or run."""


class TokenError(AccessError):
    """An identity token that does not validate: signature, issuer, audience, expiry or shape."""


class AccessDenied(AccessError):
    """No rule of the dataset's policy grants the principal a read: access is denied by default."""


class PolicyError(AccessError):
    """A policy file that does not load, validate, or fit the columns of its table."""


class QueryError(AccessError):
    """A ``--where`` or ``--columns`` that cannot be parsed, or names a column the reader cannot see."""


class ErasureBlockedError(SluiceError):
    """An erasure or retention delete that a legal hold forbids."""


class ConservationError(SluiceError):
    """rows_read != rows_written + rows_quarantined + rows_duplicate."""
