"""The access audit: an append-only Delta table of every governed read, reveal, decryption, policy change and
steward decision on quarantined rows (release, discard).

:func:`record_access` appends one row; it is the hook other modules call
(``--reveal-pii``, decryptions). The table is created with the Delta
property ``delta.appendOnly`` so no writer may delete or update its rows,
and partitioned by action, so finding a dataset's last policy change reads
the policy changes only.
Concurrent appends are blind appends that Delta commits one after another;
a creation race (two first writers) is retried.
"""

from __future__ import annotations

import enum
import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from sluice.errors import LakeError
from sluice.lake.maintain import OptimizeResult, optimize_table
from sluice.lake.table import lake_dataset
from sluice.settings import Settings, get_settings

WRITE_ATTEMPTS = 8


class AccessAction(enum.StrEnum):
    READ = "read"
    DENIED = "denied"
    REVEAL_PII = "reveal_pii"
    DECRYPT = "decrypt"
    POLICY_CHANGE = "policy_change"
    QUARANTINE_RELEASE = "quarantine_release"  # a steward committed quarantined rows as they are
    QUARANTINE_DISCARD = "quarantine_discard"  # a steward ruled quarantined rows never to be replayed


SCHEMA = pa.schema(
    [
        pa.field("at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("issuer", pa.string(), nullable=False),
        pa.field("dataset", pa.string()),
        pa.field("columns", pa.list_(pa.string())),
        pa.field("rows", pa.int64()),
        pa.field("where", pa.string()),
        pa.field("row_filter", pa.string()),
        pa.field("rule", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("policy_sha256", pa.string()),
        pa.field("detail", pa.string()),
    ]
)


@dataclass(frozen=True)
class AccessRecord:
    """Who did what to which data, when and why. ``rows`` is ``None`` where no rows were returned (a denial)."""

    action: AccessAction
    subject: str
    issuer: str
    dataset: str | None = None
    columns: tuple[str, ...] = ()
    rows: int | None = None
    where: str | None = None
    row_filter: str | None = None
    rule: str | None = None
    reason: str | None = None
    policy_sha256: str | None = None
    detail: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def as_json(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "action": self.action.value,
            "subject": self.subject,
            "issuer": self.issuer,
            "dataset": self.dataset,
            "columns": list(self.columns),
            "rows": self.rows,
            "where": self.where,
            "row_filter": self.row_filter,
            "rule": self.rule,
            "reason": self.reason,
            "policy_sha256": self.policy_sha256,
            "detail": self.detail,
        }


def _table(records: Iterable[AccessRecord]) -> pa.Table:
    rows = [r.as_json() | {"at": r.at.astimezone(timezone.utc)} for r in records]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _options(settings: Settings) -> dict[str, str] | None:
    return dict(settings.lake_storage_options) or None


def record_access(*records: AccessRecord, settings: Settings | None = None) -> None:
    """Append ``records`` to the audit table, creating it (append-only) on first use.

    Raises:
        LakeError: the audit table cannot be written; the caller must not hand out the data then.
    """
    settings = settings or get_settings()
    uri, data = settings.audit_root(), _table(records)
    for attempt in range(WRITE_ATTEMPTS):
        try:
            write_deltalake(
                uri,
                data,
                mode="append",
                partition_by=["action"],
                storage_options=_options(settings),
                configuration={"delta.appendOnly": "true"},
            )
            return
        except (CommitFailedError, DeltaError, OSError) as exc:
            if attempt == WRITE_ATTEMPTS - 1:
                raise LakeError(
                    f"cannot append to the access audit at {uri}: {str(exc).splitlines()[0][:200]}",
                    hint="check SLUICE_ACCESS_AUDIT_URI is writable; no governed read succeeds without its audit row",
                ) from None
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))


def read_audit(
    settings: Settings | None = None,
    *,
    dataset: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    action: AccessAction | None = None,
) -> list[AccessRecord]:
    """Audit rows matching every given filter, oldest first."""
    settings = settings or get_settings()
    try:
        source = lake_dataset(DeltaTable(settings.audit_root(), storage_options=_options(settings)), _options(settings))
    except TableNotFoundError:
        return []
    except (DeltaError, OSError) as exc:
        raise LakeError(f"cannot read the access audit: {str(exc).splitlines()[0][:200]}") from None
    keep = pads.scalar(True)
    for column, value in (("dataset", dataset), ("subject", subject), ("action", action)):
        if value is not None:
            keep = keep & (pads.field(column) == pads.scalar(str(value)))
    if since is not None:
        keep = keep & (pads.field("at") >= pads.scalar(pa.scalar(since, pa.timestamp("us", tz="UTC"))))
    table = source.to_table(filter=keep).sort_by("at")
    return [_record(row) for row in table.to_pylist()]


def _record(row: dict[str, object]) -> AccessRecord:
    def text(name: str) -> str | None:
        value = row.get(name)
        return None if value is None else str(value)

    at = row["at"]
    rows = row.get("rows")
    columns = row.get("columns")
    return AccessRecord(
        action=AccessAction(str(row["action"])),
        subject=str(row["subject"]),
        issuer=str(row["issuer"]),
        dataset=text("dataset"),
        columns=tuple(str(c) for c in columns) if isinstance(columns, list) else (),
        rows=rows if isinstance(rows, int) else None,
        where=text("where"),
        row_filter=text("row_filter"),
        rule=text("rule"),
        reason=text("reason"),
        policy_sha256=text("policy_sha256"),
        detail=text("detail"),
        at=at if isinstance(at, datetime) else datetime.now(timezone.utc),
    )


def last_policy_hash(dataset: str, settings: Settings | None = None) -> str | None:
    """The policy hash of ``dataset``'s newest ``policy_change`` row; ``None`` before its first governed read.

    Every read whose policy file differs from this one is preceded by such a
    row, so it is the hash the last audited read used. The table is
    partitioned by action: this reads the policy changes only.
    """
    changes = read_audit(settings, dataset=dataset, action=AccessAction.POLICY_CHANGE)
    return changes[-1].policy_sha256 if changes else None


def policy_change(
    dataset: str, sha256: str, path: str, principal_subject: str, principal_issuer: str, settings: Settings
) -> AccessRecord | None:
    """A ``policy_change`` row when ``dataset``'s policy file differs from the one its last audited read used."""
    previous = last_policy_hash(dataset, settings)
    if previous == sha256:
        return None
    detail = json.dumps({"path": path, "previous_sha256": previous, "sha256": sha256})
    return AccessRecord(
        action=AccessAction.POLICY_CHANGE,
        subject=principal_subject,
        issuer=principal_issuer,
        dataset=dataset,
        policy_sha256=sha256,
        detail=detail,
    )


def compact_audit(settings: Settings | None = None) -> OptimizeResult | None:
    """Compact the audit's small files (one per governed read) into few; ``None`` when there is no audit yet.

    Compaction rewrites files without changing a row (``dataChange=false``), which the table's
    ``delta.appendOnly`` allows; deletes and updates stay refused. Appends while it runs are blind
    appends Delta commits around it. The replaced files go with the next vacuum.

    Raises:
        LakeConflictError: concurrent commits removed the files being rewritten on every attempt.
    """
    settings = settings or get_settings()
    uri, opts = settings.audit_root(), _options(settings)
    try:
        DeltaTable(uri, storage_options=opts)
    except TableNotFoundError:
        return None
    return optimize_table(uri, storage_options=opts, metadata={"operation": "compact-audit"})
