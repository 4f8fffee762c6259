"""Erasure certificates: what an erasure found where, when it was deleted and when its files were removed.

A certificate is a JSON file ``<SLUICE_HOME>/erasure/<id>.json``. It names the
subject only by key and sha256 (:mod:`sluice.retention.subjects`). Each place
(a dataset's table, or the quarantine) lists the rows found, the Delta versions
whose files held them, the version whose commit deleted them and the files
that held them; the files are removed by a vacuum, at once (``--vacuum-now``)
or after the table's retention by the lake-maintenance flow, which completes
pending certificates (:func:`complete_pending`).
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sluice.errors import ConfigError

CERTIFICATE_DIR = "erasure"
_ID = re.compile(r"^er-\d{8}T\d{6}Z-[0-9a-f]{8}$")


class SubjectRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    sha256: str


class Place(BaseModel):
    """One table where the subject was found."""

    model_config = ConfigDict(frozen=True)

    table: str  # a dataset name, or "quarantine"
    uri: str
    columns: list[str]
    datasets: list[str]  # the datasets whose rows these are (the quarantine holds several)
    rows: int  # rows of the current version that held the subject (and were deleted)
    versions: list[int]  # every version readable before the delete whose files held the subject
    files: list[str]  # the data files that held the subject, removed by the vacuum
    deleted_in_version: int | None = None
    deleted_at: datetime | None = None
    files_removed_at: datetime | None = None
    pending_until: datetime | None = None  # when the vacuum after the table's retention may remove them


class Certificate(BaseModel):
    model_config = ConfigDict(frozen=True)

    certificate_id: str
    subjects: list[SubjectRecord]
    reason: str
    requested_at: datetime
    places: list[Place] = Field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.places)

    @property
    def complete(self) -> bool:
        return all(p.files_removed_at is not None for p in self.places)

    @property
    def status(self) -> str:
        if not self.found:
            return "nothing found"
        if self.complete:
            return "complete"
        if not any(p.rows for p in self.places):  # an earlier erasure deleted it; its files await the vacuum
            return "nothing to delete, pending vacuum"
        return "pending vacuum"


def new_certificate_id(now: datetime) -> str:
    return f"er-{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def certificate_dir(home: Path) -> Path:
    return home / CERTIFICATE_DIR


def ensure_certificate_id(certificate_id: str) -> str:
    """Raises: ConfigError: ``certificate_id`` is not the id of a certificate (and may not name a file)."""
    if not _ID.match(certificate_id):
        raise ConfigError(
            f"{certificate_id[:80]!r} is not an erasure certificate id",
            hint="ids look like er-20260102T030405Z-1a2b3c4d; `ops erase list` shows them",
        )
    return certificate_id


def save_certificate(home: Path, cert: Certificate) -> Path:
    """Write ``cert`` atomically (a reader never sees half a certificate)."""
    folder = certificate_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ensure_certificate_id(cert.certificate_id)}.json"
    tmp = folder / f".{cert.certificate_id}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(cert.model_dump_json(indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_certificate(home: Path, certificate_id: str) -> Certificate:
    """Raises: ConfigError: an invalid id, or no such certificate."""
    path = certificate_dir(home) / f"{ensure_certificate_id(certificate_id)}.json"
    if not path.is_file():
        raise ConfigError(f"no erasure certificate {certificate_id}", hint="`ops erase list` shows the certificates")
    return Certificate.model_validate_json(path.read_text(encoding="utf-8"))


def list_certificates(home: Path) -> list[Certificate]:
    folder = certificate_dir(home)
    if not folder.is_dir():
        return []
    return [
        Certificate.model_validate_json(p.read_text(encoding="utf-8"))
        for p in sorted(folder.glob("er-*.json"))
        if _ID.match(p.stem)
    ]
