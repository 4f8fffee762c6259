"""Conservation judged against the source itself, never against Sluice's own counters.

The census reads every file at the drill's S3 source straight from the
endpoint (not through the fault proxy), splits it into records with Python's
``csv`` module (RFC 4180; a blank line is not a record), and notes each
record's file, first line and primary key. Then it reads the lake (the key
columns) and the quarantine (source file and line) and checks that every
record ends up exactly once in one of them:

- **lost**: a record of a *required* file neither quarantined at its file and
  line nor with its key in the lake;
- **doubled**: a key more than once in the lake, or a file and line more than
  once in the quarantine;
- **strangers**: a key in the lake, or a file and line in the quarantine, that
  no source record accounts for.

Duplicates at the source (the same key twice) are accounted for by the one
row their key has in the lake. Which files are required depends on the
moment: the files whose batch the lake has committed (a failed run must not
leave half a file visible), plus every file the latest *completed* run saw at
the source when it started (a completed run must have accounted for all of it).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.stack import DrillStack
from sluice.lake.table import committed_batches, lake_dataset, open_table
from sluice.settings import get_settings
from sluice.sources.files import batch_id
from sluice.validate.contracts import find_contract

csv.field_size_limit(max(csv.field_size_limit(), 256 * 1024 * 1024))  # poison records carry huge fields
_INTEGER = re.compile(r"[+-]?\d+")
EXAMPLES = 5

Key = tuple[str, ...]


@dataclass(frozen=True)
class Record:
    uri: str
    line: int
    key: Key | None


@dataclass(frozen=True)
class SourceFile:
    uri: str
    sha256: str
    records: list[Record]


@dataclass(frozen=True)
class Census:
    """The verdict on conservation at one moment, with counts and a few examples of what is wrong."""

    scope: str
    files: int
    files_required: int
    records: int
    landed: int
    quarantined: int
    lost: int
    doubled: int
    strangers: int
    examples: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.lost == 0 and self.doubled == 0 and self.strangers == 0

    def summary(self) -> str:
        head = (
            f"{self.records:,} source rows in {self.files_required} of {self.files} file(s) ({self.scope}): "
            f"{self.landed:,} in the lake, {self.quarantined:,} quarantined"
        )
        if self.held:
            return head + "; none lost, doubled or invented"
        return (
            head
            + f"; LOST {self.lost:,}, DOUBLED {self.doubled:,}, STRANGERS {self.strangers:,}: "
            + "; ".join(self.examples)
        )

    def to_output(self) -> dict[str, Any]:
        return {"status": "held" if self.held else "broken", "detail": self.summary(), **asdict(self)}


def decode(data: bytes) -> str:
    """Text of a source file: UTF-8 if it is, else Windows-1252, else Latin-1 (which always decodes)."""
    data = data.removeprefix(codecs.BOM_UTF8)
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def normalise(value: str) -> str:
    text = value.strip()
    return str(int(text)) if _INTEGER.fullmatch(text) else text


def records_of(uri: str, data: bytes, key_columns: list[str]) -> list[Record]:
    """The records of one CSV file with their first line number (the header is line 1) and key."""
    reader = csv.reader(io.StringIO(decode(data), newline=""))
    header = [h.strip() for h in next(reader, [])]
    where = [header.index(c) for c in key_columns] if all(c in header for c in key_columns) else None
    records, previous = [], reader.line_num
    for row in reader:
        first, previous = previous + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        key = None
        if where is not None and len(row) > max(where):
            key = tuple(normalise(row[i]) for i in where)
            key = None if any(k == "" for k in key) else key
        records.append(Record(uri, first, key))
    return records


def read_source(stack: DrillStack, key_columns: list[str]) -> list[SourceFile]:
    """Every CSV file under the drill's source prefix, read straight from S3."""
    s3, files = stack.s3(), []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix=f"{stack.prefix}/"):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".csv"):
                continue
            data = s3.get_object(Bucket=stack.bucket, Key=item["Key"])["Body"].read()
            uri = f"s3://{stack.bucket}/{item['Key']}"
            files.append(SourceFile(uri, hashlib.sha256(data).hexdigest(), records_of(uri, data, key_columns)))
    return sorted(files, key=lambda f: f.uri)


def _lake_keys(stack: DrillStack, key_columns: list[str]) -> Counter[Key]:
    table = open_table(stack.lake_uri)
    if table is None:
        return Counter()
    rows = table.to_pyarrow_table(columns=key_columns).to_pylist()
    return Counter(tuple(normalise(str(r[c])) for c in key_columns) for r in rows)


def _quarantined(stack: DrillStack) -> Counter[tuple[str, int]]:
    table = open_table(stack.quarantine_uri)
    if table is None:
        return Counter()
    found = lake_dataset(table, partitions=[("dataset", "=", stack.dataset)]).to_table(
        columns=["source_file", "source_row"]
    )
    return Counter(zip(found.column("source_file").to_pylist(), found.column("source_row").to_pylist(), strict=True))


def count(
    files: list[SourceFile], lake: Counter[Key], quarantine: Counter[tuple[str, int]], required: set[str]
) -> Census:
    """Judge conservation: each record of a ``required`` file exactly once in ``lake`` or ``quarantine``."""
    needed = [f for f in files if f.uri in required]
    examples: list[str] = []
    landed = quarantined = lost = 0
    for record in (r for f in needed for r in f.records):
        if quarantine[(record.uri, record.line)]:
            quarantined += 1
        elif record.key is not None and record.key in lake:
            landed += 1
        else:
            lost += 1
            if len(examples) < EXAMPLES:
                examples.append(f"lost {record.uri} line {record.line} (key {record.key})")
    doubled = sum(n - 1 for n in lake.values() if n > 1) + sum(n - 1 for n in quarantine.values() if n > 1)
    examples += [f"key {k} {n}x in the lake" for k, n in lake.items() if n > 1][:EXAMPLES]
    source_keys = {r.key for f in files for r in f.records}
    source_lines = {(r.uri, r.line) for f in files for r in f.records}
    strangers = sum(n for k, n in lake.items() if k not in source_keys)
    strangers += sum(n for k, n in quarantine.items() if k not in source_lines)
    examples += [f"key {k} in the lake but at no source" for k in lake if k not in source_keys][:EXAMPLES]
    examples += [f"quarantined {f} line {n} is at no source" for f, n in quarantine if (f, n) not in source_lines][
        :EXAMPLES
    ]
    scope = "every file" if len(needed) == len(files) else "files the lake committed or a completed run saw"
    return Census(
        scope=scope,
        files=len(files),
        files_required=len(needed),
        records=sum(len(f.records) for f in needed),
        landed=landed,
        quarantined=quarantined,
        lost=lost,
        doubled=doubled,
        strangers=strangers,
        examples=examples,
    )


def take_census(stack: DrillStack, *, required: set[str]) -> Census:
    """Check conservation now, for the files in ``required`` and every file whose batch the lake committed."""
    keys = find_contract(stack.dataset, get_settings().contracts_root()).primary_key
    files = read_source(stack, keys)
    done = committed_batches(stack.lake_uri, [batch_id(f.uri, f.sha256) for f in files])
    needed = {f.uri for f in files if f.uri in required or batch_id(f.uri, f.sha256) in done}
    return count(files, _lake_keys(stack, keys), _quarantined(stack), needed)
