"""Erasure of a data subject: find its rows everywhere, delete them, remove the files that held them, certify.

1. **find**: every dataset whose contract has a column named after a subject
   key (or holding the glossary term of that name), and the quarantine, are
   scanned through every version time travel can reach (:mod:`sluice.retention.scan`);
2. **holds**: a legal hold on a dataset where the subject was found, or on the
   subject there, stops the erasure before anything is deleted;
3. **delete**: a Delta MERGE whose source holds the values, so a value is data,
   never SQL text; a dataset's delete runs under its commit lease, so ingestion
   takes turns with it (a commit lands only on the version its plan read);
4. **remove**: with ``vacuum_now`` the deleted files are vacuumed at once,
   else the lake-maintenance flow removes them after the table's retention;
5. **certify**: :mod:`sluice.retention.certificate`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from sluice.errors import ErasureBlockedError, LakeConflictError
from sluice.governance.glossary import Glossary, glossary_path, load_glossary
from sluice.lake.table import lake_filesystem, open_table, table_uri
from sluice.paths import is_dataset_name
from sluice.retention.certificate import Certificate, Place, SubjectRecord, new_certificate_id
from sluice.retention.holds import Hold, blocking
from sluice.retention.scan import (
    Matcher,
    TableScan,
    column_matcher,
    file_exists,
    local_path,
    partition_of,
    quarantine_matcher,
    typed_values,
)
from sluice.retention.scan import scan_table as _scan_table
from sluice.retention.subjects import Subject, key_names, stored_values, subject_columns
from sluice.validate.contracts import Contract, available_contracts, find_contract

QUARANTINE = "quarantine"
QUARANTINE_LEASE = "quarantine:erasure"  # erasures of the quarantine take turns (ingestion only appends to it)
_QUARANTINE_KEYS = ["dataset", "run_id", "source_file", "source_row"]
ATTEMPTS = 5
Lock = Callable[[str], AbstractContextManager[object]]


@dataclass(frozen=True)
class Lakeside:
    """Where the data is: the lake, the quarantine, the contracts and the home for certificates."""

    lake_root: str
    quarantine_root: str
    contracts_root: Path
    home: Path
    storage_options: dict[str, str]


@dataclass(frozen=True)
class ErasureRequest:
    subjects: list[Subject]
    reason: str
    vacuum_now: bool = False
    retention_hours: int = 168  # the lake-maintenance flow's vacuum retention


@dataclass(frozen=True)
class Found:
    """Where the subject is, before anything is deleted."""

    table: str
    uri: str
    values_by_column: dict[str, list[str]]
    datasets: list[str]
    scan: TableScan
    matcher: Matcher
    extra: list[str] = field(default_factory=list)  # columns read besides the matcher's (quarantine keys)

    def rescan(self, opts: dict[str, str] | None) -> Found:
        return replace(self, scan=_scan_table(self.uri, self.matcher, extra=self.extra, storage_options=opts))


def _no_lock(_dataset: str) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


def _lake_values(contract: Contract, subjects: list[Subject], glossary: Glossary) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for subject in subjects:
        for column in subject_columns(contract, subject.key, glossary):
            values.setdefault(column, [])
            values[column].extend(stored_values(contract, column, subject.value))
    return {c: list(dict.fromkeys(v)) for c, v in values.items()}


def _contracts(root: Path) -> list[Contract]:
    return [find_contract(name, root) for name in available_contracts(root) if is_dataset_name(name)]


def find(side: Lakeside, subjects: list[Subject]) -> list[Found]:
    """Every table holding the subject in some reachable version, with its scan."""
    found: list[Found] = []
    opts = side.storage_options or None
    keys: dict[str, None] = dict.fromkeys(s.key for s in subjects)
    values: dict[str, None] = {}
    glossary = load_glossary(glossary_path(side.contracts_root))
    for subject in subjects:
        keys.update(dict.fromkeys(sorted(key_names(subject.key, glossary))))
    for contract in _contracts(side.contracts_root):
        by_column = _lake_values(contract, subjects, glossary)
        keys.update(dict.fromkeys(by_column))
        for column_values in by_column.values():
            values.update(dict.fromkeys(column_values))
        uri = table_uri(side.lake_root, contract.name)
        if not by_column or open_table(uri, opts) is None:
            continue
        lake_matcher = column_matcher(by_column)
        scan = _scan_table(uri, lake_matcher, storage_options=opts)
        if scan.versions:
            found.append(Found(contract.name, uri, by_column, [contract.name], scan, lake_matcher))
    values.update(dict.fromkeys(s.value for s in subjects))
    if open_table(side.quarantine_root, opts) is not None:
        matcher: Matcher = quarantine_matcher(list(keys), list(values))
        scan = _scan_table(side.quarantine_root, matcher, extra=_QUARANTINE_KEYS[1:], storage_options=opts)
        if scan.versions:
            datasets = sorted({partition_of(f, "dataset") or "" for f in scan.files} - {""})
            found.append(Found(QUARANTINE, side.quarantine_root, {}, datasets, scan, matcher, _QUARANTINE_KEYS[1:]))
    return found


def ensure_not_held(found: Iterable[Found], holds: list[Hold], subjects: list[Subject]) -> None:
    """Raises: ErasureBlockedError: an active hold covers a dataset where the subject was found."""
    held = {h.hold_id: h for f in found for d in f.datasets for h in blocking(holds, d, subjects)}
    if held:
        what = "; ".join(f"{h.hold_id} on {h.scope} ({h.reason})" for h in held.values())
        raise ErasureBlockedError(
            f"erasure blocked by {len(held)} legal hold(s): {what}; nothing was deleted",
            hint="erase only when the hold is lifted: `ops hold release ID`, then run the erasure again",
        )


def _merge_delete(uri: str, source: pa.Table, predicate: str, opts: dict[str, str] | None) -> tuple[int, int]:
    """Delete the target rows matching a source row; returns (rows deleted, version). Retries on conflicts."""
    attempt = 1
    while True:
        table = DeltaTable(uri, storage_options=opts)
        try:
            metrics = (
                table.merge(source=source, predicate=predicate, source_alias="s", target_alias="t")
                .when_matched_delete()
                .execute()
            )
            return int(metrics.get("num_target_rows_deleted", 0)), table.version()
        except CommitFailedError as exc:
            if attempt >= ATTEMPTS:
                raise LakeConflictError(
                    f"cannot delete from {uri}: other writers kept committing ({exc})",
                    hint="run the erasure again; it is idempotent",
                ) from None
            attempt += 1


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _delete_lake(found: Found, opts: dict[str, str] | None) -> tuple[int, int | None]:
    """One MERGE whose source has a column of values per subject column: ``t.c0 = s.v0 OR t.c1 = s.v1 ...``."""
    table = DeltaTable(found.uri, storage_options=opts)
    schema = pa.schema(table.schema().to_arrow())
    arrays: list[pa.Array] = []
    terms: list[str] = []
    for column, values in found.values_by_column.items():
        if column not in schema.names or (typed := typed_values(values, schema.field(column).type)) is None:
            continue
        terms.append(f"t.{_ident(column)} = s.v{len(arrays)}")
        arrays.append(typed)
    if not arrays:
        return 0, None
    rows = sum(len(a) for a in arrays)
    columns, offset = {}, 0
    for i, typed in enumerate(arrays):  # each value on its own source row; the other columns null there
        pad_before, pad_after = pa.nulls(offset, typed.type), pa.nulls(rows - offset - len(typed), typed.type)
        columns[f"v{i}"] = pa.concat_arrays([pad_before, typed, pad_after])
        offset += len(typed)
    deleted, version = _merge_delete(found.uri, pa.table(columns), " OR ".join(terms), opts)
    return deleted, version if deleted else None


def _delete_quarantine(found: Found, opts: dict[str, str] | None) -> tuple[int, int | None]:
    keys = []
    for file, batch in found.scan.current:
        part = batch.select(_QUARANTINE_KEYS[1:])
        keys.append(part.add_column(0, "dataset", pa.array([partition_of(file, "dataset")] * part.num_rows)))
    if not keys:
        return 0, None
    source = pa.Table.from_batches(keys).group_by(_QUARANTINE_KEYS).aggregate([])
    predicate = " AND ".join(f"t.{_ident(k)} = s.{_ident(k)}" for k in _QUARANTINE_KEYS)
    rows, version = _merge_delete(found.uri, source, predicate, opts)
    return rows, version


def remove_files(uri: str, files: list[str], opts: dict[str, str] | None) -> bool:
    """Remove those of ``files`` the table's current version no longer references; whether all of them are gone.

    Only these files go: other versions of the table keep their files (a later vacuum skips the missing ones),
    and a file the current version still references, or one a writer has not committed, is never touched.
    """
    live = set(DeltaTable(uri, storage_options=opts).file_uris())
    fs, _root = lake_filesystem(uri, opts)
    for file in files:
        if file not in live and file_exists(fs, file):
            fs.delete_file(local_path(fs, file))
    return not any(file_exists(fs, f) for f in files)


def _delete_until_gone(fresh: Found, opts: dict[str, str] | None) -> tuple[int, int | None, TableScan]:
    """Delete the subject's current rows until a scan after the delete finds none; rows, last version, that scan.

    Ingestion appends to the quarantine under its dataset's lease, not the quarantine's: an entry that
    lands while the delete runs is found by the scan after it and deleted in the next round.

    Raises:
        LakeConflictError: the subject's rows were still arriving after ``ATTEMPTS`` deletes.
    """
    if fresh.scan.rows_now == 0:  # only past versions hold it: nothing to delete, files to remove
        return 0, None, fresh.scan
    delete = _delete_quarantine if fresh.table == QUARANTINE else _delete_lake
    rows, version = 0, None
    for _round in range(ATTEMPTS):
        deleted, committed = delete(fresh, opts)
        rows, version = rows + deleted, committed if committed is not None else version
        fresh = fresh.rescan(opts)
        if fresh.scan.rows_now == 0:
            return rows, version, fresh.scan
    raise LakeConflictError(
        f"{fresh.table}: rows of the subject were still being written after {ATTEMPTS} deletes",
        hint="stop the ingestion that writes them, then run the erasure again",
    )


def _erase_place(found: Found, request: ErasureRequest, lock: Lock, opts: dict[str, str] | None) -> Place:
    """Delete and remove files under the table's lease; the table is scanned again there.

    The scan under the lease sees what other erasures committed since :func:`find`; the scan after the
    delete names every file that held the subject, also one a concurrent commit wrote before the delete.
    """
    with lock(found.table if found.table != QUARANTINE else QUARANTINE_LEASE):
        fresh = found.rescan(opts)
        rows, version, after = _delete_until_gone(fresh, opts)
        now = datetime.now(timezone.utc)
        removed = now if request.vacuum_now and remove_files(found.uri, after.files, opts) else None
    return Place(
        table=found.table,
        uri=found.uri,
        columns=list(found.values_by_column) or ["record", "value"],
        datasets=found.datasets,
        rows=max(rows, fresh.scan.rows_now),
        versions=after.versions,
        files=after.files,
        deleted_in_version=version,
        deleted_at=now,
        files_removed_at=removed,
        pending_until=None if removed else now + timedelta(hours=request.retention_hours),
    )


def erase(side: Lakeside, request: ErasureRequest, holds: list[Hold], lock: Lock = _no_lock) -> Certificate:
    """Erase ``request``'s subjects everywhere; the certificate is returned, not saved.

    Raises:
        ErasureBlockedError: a legal hold covers a place where the subject was found (nothing is deleted).
        LakeConflictError: other writers kept a table's delete from committing.
    """
    now = datetime.now(timezone.utc)
    found = find(side, request.subjects)
    ensure_not_held(found, holds, request.subjects)
    opts = side.storage_options or None
    places = [_erase_place(f, request, lock, opts) for f in found]
    return Certificate(
        certificate_id=new_certificate_id(now),
        subjects=[SubjectRecord(key=s.key, sha256=s.digest) for s in request.subjects],
        reason=request.reason,
        requested_at=now,
        places=places,
    )


def complete_pending(cert: Certificate, now: datetime, opts: dict[str, str] | None = None) -> Certificate:
    """``cert`` with each place whose retention has passed vacuumed and marked removed."""
    places = []
    for place in cert.places:
        due = place.files_removed_at is None and place.pending_until is not None and place.pending_until <= now
        removed = due and open_table(place.uri, opts) is not None and remove_files(place.uri, place.files, opts)
        places.append(place.model_copy(update={"files_removed_at": now, "pending_until": None}) if removed else place)
    return cert.model_copy(update={"places": places})
