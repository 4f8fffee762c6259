"""Control-total manifests of file drops: ``<file>.manifest.json`` beside each data file.

The producer writes, next to ``orders-2024.csv``, a file
``orders-2024.csv.manifest.json`` holding what the file holds::

    {"rows": 1000, "sums": {"amount": 123456.78}}

``rows`` (required) counts records: data rows of a delimited file without its
header and blank lines, lines of JSON Lines, records of a JSON array or a
Parquet file. ``sums`` (optional) gives the total of numeric columns. Other
keys are allowed and ignored (a producer may add its own, e.g. ``exported_at``).
Manifest files are never listed as data (:func:`sluice.sources.files.list_source_files`).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluice.errors import SourceError
from sluice.runs.completeness import ControlTotals
from sluice.sources.files import MANIFEST_SUFFIX, filesystem

MAX_MANIFEST_BYTES = 1 << 20


class Manifest(BaseModel):
    """The manifest file's content."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    rows: int = Field(ge=0, strict=True)
    sums: dict[str, float] = Field(default_factory=dict)


def manifest_uri(data_uri: str) -> str:
    return data_uri + MANIFEST_SUFFIX


def read_manifest(data_uri: str, storage_options: dict[str, Any] | None = None) -> ControlTotals | None:
    """The control totals the manifest beside ``data_uri`` states; ``None`` when there is no manifest.

    Raises:
        SourceError: the manifest exists but is not a JSON object with a non-negative integer ``rows``.
    """
    uri = manifest_uri(data_uri)
    fs, path = filesystem(uri, storage_options)
    try:
        with fs.open(path, "rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SourceError(f"cannot read the manifest {uri}: {exc}", hint="check the file and its permissions") from None
    try:
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ValueError(f"larger than {MAX_MANIFEST_BYTES} bytes")
        manifest = Manifest.model_validate(json.loads(raw.decode("utf-8")))
    except (ValueError, UnicodeDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise SourceError(
            f"the manifest {uri} is not valid: {first}",
            hint='a manifest is a JSON object such as {"rows": 1000, "sums": {"amount": 12.5}}',
        ) from None
    return ControlTotals(rows=manifest.rows, sums=dict(manifest.sums), origin=uri)
