"""Rolling a dataset's table back to an earlier version: a Delta restore, recorded as a rollback, never over another
writer's commit.

A rollback is one new commit (Delta ``RESTORE``) whose table equals version
``to_version``. Its commit metadata says it is a rollback, of which versions,
why and by whom (``sluice.rollback``), so ``ops lake history`` shows the audit
trail. The restore commits at exactly the version after the one checked, like
every Sluice commit (:mod:`sluice.lake.commit`): when the caller names the
version it expects to undo (``expected_latest``, the one its run wrote) and the
table has moved past it, or another writer takes the next version first,
nothing is restored and the outcome says which versions came in between.

The run records of the undone versions' runs are then marked
(:func:`sluice.runs.metastore.mark_rolled_back`): their rows stay counted as
written, and ``rows_rolled_back`` says how many of them the rollback undid.
The batches of an undone version stay recorded on the table: delivering the
same bytes again is skipped; a corrected delivery (new bytes) is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deltalake import CommitProperties
from deltalake.exceptions import CommitFailedError, DeltaError

from sluice.errors import LakeError
from sluice.lake.commit import Fence
from sluice.lake.commit_log import read_commit
from sluice.lake.table import open_table
from sluice.lake.write import commit_metadata
from sluice.runs.metastore import mark_rolled_back

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from sqlalchemy.engine import Engine

ROLLBACK_KEY = "rollback"


@dataclass(frozen=True)
class RollbackRequest:
    """Restore ``dataset``'s table to ``to_version``; with ``expected_latest``, only if that is still its latest."""

    dataset: str
    to_version: int
    reason: str
    by: str  # "run <run id>" for an automatic rollback, "user <name>" for `ops lake rollback`
    expected_latest: int | None = None
    run_id: str | None = None  # the run that rolls back (recorded as the commit's run), if any


@dataclass(frozen=True)
class RollbackOutcome:
    """What a rollback did. ``restored`` is False when a later commit of another writer was left in place."""

    dataset: str
    restored: bool
    to_version: int
    latest: int  # the table's latest version before the rollback
    version: int | None  # the rollback commit's version
    undone: list[int]  # the versions the rollback undid (none when not restored)
    undone_runs: dict[int, str] = field(default_factory=dict)  # undone version -> the run that wrote it
    superseded_by: list[int] = field(default_factory=list)  # versions committed after the expected one
    reason: str = ""
    by: str = ""

    @property
    def summary(self) -> str:
        if self.restored:
            return (
                f"{self.dataset}: version(s) {_versions(self.undone)} rolled back to version {self.to_version} "
                f"as version {self.version} ({self.reason})"
            )
        return (
            f"{self.dataset}: not rolled back to version {self.to_version}: version(s) "
            f"{_versions(self.superseded_by)} were committed after the one to undo, and are kept ({self.reason})"
        )


def _versions(versions: list[int]) -> str:
    return ", ".join(str(v) for v in versions) or "none"


def version_problem(table: DeltaTable, to_version: int, storage_options: dict[str, str] | None = None) -> str | None:
    """Why ``table`` cannot be rolled back to ``to_version``; ``None`` when it can."""
    latest = table.version()
    if to_version < 0 or to_version > latest:
        return f"version {to_version} does not exist: the table has versions 0 to {latest}"
    if to_version == latest:
        return f"version {to_version} is already the latest: there is nothing to roll back"
    if read_commit(table.table_uri, to_version, storage_options) is None:
        return f"version {to_version} is no longer in the table's log (cleaned up after a checkpoint)"
    return None


def _runs_of(uri: str, versions: list[int], storage_options: dict[str, str] | None) -> dict[int, str]:
    runs = {}
    for v in versions:
        entry = read_commit(uri, v, storage_options)
        run = entry.metadata.get("run_id") if entry is not None else None
        if isinstance(run, str) and run:
            runs[v] = run
    return runs


def _not_restored(request: RollbackRequest, latest: int, after: int) -> RollbackOutcome:
    return RollbackOutcome(
        request.dataset,
        False,
        request.to_version,
        latest,
        None,
        [],
        superseded_by=list(range(after + 1, latest + 1)),
        reason=request.reason,
        by=request.by,
    )


def _metadata(request: RollbackRequest, undone: list[int], lease: Fence | None) -> dict[str, str]:
    meta: dict[str, object] = {
        "dataset": request.dataset,
        ROLLBACK_KEY: {"to_version": request.to_version, "undone": undone, "reason": request.reason, "by": request.by},
        "lease_token": lease.token if lease is not None else None,
    }
    if request.run_id:
        meta["run_id"] = request.run_id
    return commit_metadata(meta)


def restore(
    uri: str, request: RollbackRequest, *, lease: Fence | None = None, storage_options: dict[str, str] | None = None
) -> RollbackOutcome:
    """Roll the table at ``uri`` back to ``request.to_version`` with one restore commit, recorded as a rollback.

    Raises:
        LakeError: there is no table, ``to_version`` cannot be restored, or the restore fails.
        LeaseLostError: ``lease`` lapsed before the restore; nothing was restored.
    """
    table = open_table(uri, storage_options)
    if table is None:
        raise LakeError(f"no Delta table at {uri}", hint="run an ingestion first, or check --lake")
    latest = table.version()
    expected = request.expected_latest
    if expected is not None and latest != expected:
        return _not_restored(request, latest, expected)
    if (problem := version_problem(table, request.to_version, storage_options)) is not None:
        raise LakeError(f"{request.dataset}: {problem}", hint=f"`ops lake history {request.dataset}` lists them")
    undone = list(range(request.to_version + 1, latest + 1))
    if lease is not None:
        lease.ensure_held()
    props = CommitProperties(custom_metadata=_metadata(request, undone, lease), max_commit_retries=0)
    try:
        table.restore(request.to_version, commit_properties=props)
    except CommitFailedError:  # another writer took version latest + 1: keep its commit
        now = open_table(uri, storage_options)
        return _not_restored(request, now.version() if now is not None else latest, latest)
    except (DeltaError, OSError) as exc:
        raise LakeError(
            f"rolling {request.dataset} back to version {request.to_version} failed: {exc}",
            hint="a data file of that version may be gone (vacuumed); `ops lake history` shows the versions",
        ) from None
    return RollbackOutcome(
        request.dataset,
        True,
        request.to_version,
        latest,
        latest + 1,
        undone,
        _runs_of(uri, undone, storage_options),
        reason=request.reason,
        by=request.by,
    )


def record_rollback(engine: Engine, outcome: RollbackOutcome) -> list[str]:
    """Mark the run record of each undone version's run as rolled back; the run ids marked."""
    if not outcome.restored or outcome.version is None:
        return []
    marked = []
    with engine.begin() as conn:
        for run_id in dict.fromkeys(outcome.undone_runs.values()):
            if mark_rolled_back(conn, run_id, outcome.version):
                marked.append(run_id)
    return marked
