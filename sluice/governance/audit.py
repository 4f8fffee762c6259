"""The access audit: an append-only JSON Lines file of every reveal of protected values.

``record_access`` appends one line per access (who, what, which columns, how
many rows, why) to ``<audit dir>/access.jsonl`` (``SLUICE_PROTECT_AUDIT_DIR``,
default ``$SLUICE_HOME/audit``). Each record is written whole with one
``write`` under an exclusive lock, so concurrent writers never interleave;
nothing in Sluice rewrites or truncates the file.
"""

from __future__ import annotations

import fcntl
import getpass
import os
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluice.errors import ConfigError
from sluice.settings import Settings, get_settings

AUDIT_FILE = "access.jsonl"


class AccessRecord(BaseModel):
    """One access to protected data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    principal: str
    action: str  # "reveal" (decryption)
    dataset: str
    columns: list[str]
    rows: int
    purpose: str = ""


def audit_path(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.protect.audit_root(settings.home) / AUDIT_FILE


def current_principal() -> str:
    """Who runs this process, by OS user name (callers that know the principal pass it)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def record_access(
    *,
    action: str,
    dataset: str,
    columns: list[str],
    rows: int,
    purpose: str = "",
    principal: str | None = None,
    settings: Settings | None = None,
) -> AccessRecord:
    """Append an access record; returns it.

    Raises:
        ConfigError: the audit file cannot be written (the access must then not happen).
    """
    record = AccessRecord(
        principal=principal or current_principal(),
        action=action,
        dataset=dataset,
        columns=sorted(columns),
        rows=rows,
        purpose=purpose,
    )
    path = audit_path(settings)
    line = (record.model_dump_json() + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(
            f"cannot append to the access audit {path}: {exc.strerror or exc}",
            hint="fix SLUICE_PROTECT_AUDIT_DIR or its permissions; no protected value is shown without an audit record",
        ) from None
    return record


def read_access(settings: Settings | None = None) -> list[AccessRecord]:
    """Every access record, oldest first; a line that does not parse is skipped."""
    path = audit_path(settings)
    if not path.is_file():
        return []
    records = []
    with path.open(encoding="utf-8", errors="replace") as src:
        for line in src:
            try:
                records.append(AccessRecord.model_validate_json(line))
            except ValidationError:
                continue
    return records
