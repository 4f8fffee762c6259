"""Reveals of protected values, recorded in the one access audit (:mod:`sluice.access.audit`).

Decrypting encrypted values (:mod:`sluice.governance.reveal`) and showing
clear PII that ``ops`` otherwise masks (``--reveal-pii``) each append a row to
the append-only audit table that governed reads write to, so ``ops audit
list`` shows every access in one place: who (the OS user here, with issuer
``os-user``; callers that know the principal pass it), which dataset and
columns, how many rows, and why (the purpose). When the row cannot be
written, the access must not happen: the caller gets the error first.
"""

from __future__ import annotations

import getpass
import os
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from sluice.access.audit import AccessAction, read_audit
from sluice.access.audit import AccessRecord as AuditRow
from sluice.access.audit import record_access as append_rows
from sluice.settings import Settings

OS_ISSUER = "os-user"  # the issuer of principals named by their operating-system user
DECRYPT = "reveal"  # encrypted values decrypted (reveal, reveal_entries)
REVEAL_PII = "reveal_pii"  # clear PII shown unmasked (--reveal-pii)
_ACTIONS = {DECRYPT: AccessAction.DECRYPT, REVEAL_PII: AccessAction.REVEAL_PII}


class AccessRecord(BaseModel):
    """One access to protected data, as the audit holds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    principal: str
    action: str  # DECRYPT or REVEAL_PII
    dataset: str
    columns: list[str]
    rows: int
    purpose: str = ""


def current_principal() -> str:
    """Who runs this process, by OS user name."""
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
) -> None:
    """Append one reveal to the access audit.

    Raises:
        LakeError: the audit cannot be written (the access must then not happen).
    """
    row = AuditRow(
        action=_ACTIONS[action],
        subject=principal or current_principal(),
        issuer=OS_ISSUER,
        dataset=dataset,
        columns=tuple(sorted(columns)),
        rows=rows,
        reason=purpose or None,
    )
    append_rows(row, settings=settings)


def read_access(settings: Settings | None = None) -> list[AccessRecord]:
    """Every reveal the audit records, oldest first."""
    found = []
    for action, audited in _ACTIONS.items():
        for row in read_audit(settings, action=audited):
            found.append(
                AccessRecord(
                    at=row.at,
                    principal=row.subject,
                    action=action,
                    dataset=row.dataset or "",
                    columns=list(row.columns),
                    rows=row.rows or 0,
                    purpose=row.reason or "",
                )
            )
    return sorted(found, key=lambda r: r.at)
