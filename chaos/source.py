"""What a drill does at the source: deliveries and the faults that come with real feeds.

- :func:`deliver_orders` uploads a fresh batch of realistic orders (the sample
  generator, with its bad rows and duplicates) under new, never-used keys.
- :func:`redeliver` delivers every file again under a new name: the same rows twice.
- :func:`redeliver_partially` delivers part of an earlier file again, mixed with new rows.
- :func:`change_schema` delivers files whose columns were renamed, dropped, added
  or changed type (one change per file).
- :func:`poison` delivers files with bad encodings, bytes that decode in no
  encoding, malformed rows and huge fields, amid ordinary rows, or an export
  cut short (every row of the file truncated).

Files are CSV under ``s3://drill-<id>/incoming/``.
"""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, model_validator

from chaos.stack import DrillStack
from demo.samples import generate_orders
from ops.errors import ChaosError

Rows = list[list[str]]
POISON_KINDS = ("encoding", "invalid-bytes", "malformed", "huge-field", "truncated")


@dataclass(frozen=True)
class Delivery:
    """Files delivered by one step, with the number of data rows they hold."""

    files: list[str]
    rows: int

    def to_output(self) -> dict[str, object]:
        names = ", ".join(f.rsplit("/", 1)[-1] for f in self.files[:4]) + (" …" if len(self.files) > 4 else "")
        return {
            "detail": f"{self.rows:,} rows in {len(self.files)} file(s): {names}",
            "files": self.files,
            "rows": self.rows,
        }


def upload(stack: DrillStack, name: str, data: bytes) -> str:
    key = f"{stack.prefix}/{name}"
    stack.s3().put_object(Bucket=stack.bucket, Key=key, Body=data)
    return f"s3://{stack.bucket}/{key}"


def delivered(stack: DrillStack) -> list[str]:
    """Object keys under the source prefix, in name order."""
    s3, keys = stack.s3(), []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix=f"{stack.prefix}/"):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return sorted(keys)


def _fresh(stack: DrillStack, rows: int, files: int, seed: int) -> list[bytes]:
    """``files`` CSV files of new orders (about 3 % bad, 2 % duplicate rows), as bytes."""
    offset = stack.allocate_ids(rows)
    with tempfile.TemporaryDirectory(dir=stack.root) as tmp:
        manifest = generate_orders(tmp, rows=rows, files=files, seed=seed, id_offset=offset)
        return [Path(p).read_bytes() for p in manifest.files]


def _split(data: bytes) -> tuple[list[str], Rows]:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader)
    return header, [row for row in reader if row]


def _join(header: list[str], rows: Rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def deliver_orders(stack: DrillStack, *, rows: int, files: int = 1, seed: int = 0, name: str = "batch") -> Delivery:
    """Upload ``rows`` new orders in ``files`` files named ``<name>-NNN.csv``."""
    if rows < files or files < 1:
        raise ChaosError(f"cannot deliver {rows} row(s) in {files} file(s)")
    existing = len([k for k in delivered(stack) if Path(k).name.startswith(f"{name}-")])
    uris = [
        upload(stack, f"{name}-{existing + i:03d}.csv", data) for i, data in enumerate(_fresh(stack, rows, files, seed))
    ]
    return Delivery(uris, rows)


def redeliver(stack: DrillStack, *, suffix: str = "again") -> Delivery:
    """Deliver every file at the source once more, byte for byte, under ``<stem>-<suffix>.csv``."""
    s3, uris, rows = stack.s3(), [], 0
    for key in delivered(stack):
        data = s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
        uris.append(upload(stack, f"{Path(key).stem}-{suffix}.csv", data))
        rows += len(_split(data)[1])
    if not uris:
        raise ChaosError("nothing to redeliver: the source is empty", hint="deliver a batch first")
    return Delivery(uris, rows)


def redeliver_partially(stack: DrillStack, *, share: float = 0.5, new_rows: int = 200, seed: int = 7) -> Delivery:
    """Deliver the first ``share`` of the first file again, followed by ``new_rows`` new orders."""
    keys = delivered(stack)
    if not keys or not 0 < share <= 1:
        raise ChaosError("a partial redelivery needs an earlier delivery and 0 < share <= 1")
    header, old = _split(stack.s3().get_object(Bucket=stack.bucket, Key=keys[0])["Body"].read())
    _, new = _split(_fresh(stack, new_rows, 1, seed)[0])
    again = old[: max(1, int(len(old) * share))]
    uri = upload(stack, f"partial-{len(keys):03d}.csv", _join(header, again + new).encode())
    return Delivery([uri], len(again) + len(new))


class SchemaChange(BaseModel):
    """One change of the source's schema: ``rename`` (to), ``drop``, ``add`` (value) or ``retype`` (template)."""

    kind: Literal["rename", "drop", "add", "retype"]
    column: str
    to: str | None = None
    value: str = ""
    template: str = "{value} units"

    @model_validator(mode="after")
    def _complete(self) -> SchemaChange:
        if self.kind == "rename" and not self.to:
            raise ValueError("a rename needs `to`")
        if self.kind == "retype" and "{value}" not in self.template:
            raise ValueError("a retype template must contain {value}")
        return self

    def apply(self, header: list[str], rows: Rows) -> tuple[list[str], Rows]:
        if self.kind == "add":
            return [*header, self.column], [[*r, self.value] for r in rows]
        if self.column not in header:
            raise ChaosError(f"the source has no column {self.column!r} to {self.kind}")
        i = header.index(self.column)
        if self.kind == "rename":
            return [self.to if h == self.column else h for h in header], rows  # type: ignore[misc]
        if self.kind == "drop":
            return header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in rows]
        return header, [
            [*r[:i], self.template.format(value=r[i]) if r[i] else "", *r[i + 1 :]] if len(r) > i else r for r in rows
        ]


def change_schema(
    stack: DrillStack, *, changes: list[dict[str, str]], rows_per_file: int = 300, seed: int = 3
) -> Delivery:
    """Deliver one new file per change, each with that change applied to its header and rows."""
    parsed = [SchemaChange.model_validate(c) for c in changes]
    uris, total = [], 0
    for i, (change, data) in enumerate(
        zip(parsed, _fresh(stack, rows_per_file * len(parsed), len(parsed), seed), strict=True)
    ):
        header, rows = change.apply(*_split(data))
        uris.append(upload(stack, f"schema-{change.kind}-{i:03d}.csv", _join(header, rows).encode()))
        total += len(rows)
    return Delivery(uris, total)


def _poison_rows(header: list[str], template: list[str], first_id: int) -> dict[str, list[str]]:
    """Raw lines per kind of poison, each with its own new order id (the template gives the other values)."""

    def line(i: int, **raw: str) -> str:
        cells = {h: _quoted(v) for h, v in zip(header, template, strict=True)} | {"order_id": str(first_id + i)}
        return ",".join((cells | raw)[h] for h in header)

    short = ",".join(line(0).split(",")[:-3])
    return {
        "malformed": [
            short,
            line(1) + ",surplus,fields",  # too few, too many fields
            line(2, customer_id='C00"0042'),  # a stray quote inside a field
            line(3, status='"paid'),
        ],  # a quoted field that never closes: kept as the last line
        "huge-field": [line(10, email="x" * 3_000_000 + "@example.com"), line(11, customer_id="C" * 1_000_000)],
    }


def _quoted(value: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([value])
    return out.getvalue()


def poison(stack: DrillStack, *, kinds: list[str], rows_per_file: int = 400, seed: int = 11) -> Delivery:
    """Deliver one file per kind of poison among ordinary rows.

    Kinds: ``encoding`` (the file is Windows-1252, not UTF-8), ``invalid-bytes``
    (UTF-8 with byte sequences no encoding accepts, deep in the file),
    ``malformed`` (too few or many fields, stray and unclosed quotes),
    ``huge-field`` (fields of megabytes) and ``truncated`` (an export cut
    short: every row lost its last two fields, so every row is quarantined).
    """
    unknown = sorted(set(kinds) - set(POISON_KINDS))
    if unknown or not kinds:
        raise ChaosError(
            f"unknown poison {', '.join(unknown) or '(none given)'}", hint=f"use {', '.join(POISON_KINDS)}"
        )
    uris, total = [], 0
    for i, (kind, data) in enumerate(
        zip(kinds, _fresh(stack, rows_per_file * len(kinds), len(kinds), seed), strict=True)
    ):
        header, rows = _split(data)
        body = _join(header, [r[:-2] for r in rows] if kind == "truncated" else rows)
        if kind in ("malformed", "huge-field"):
            first = stack.allocate_ids(20) + 1_000_001
            extra = _poison_rows(header, next(r for r in rows if len(r) == len(header)), first)[kind]
            body, rows = body + "\n".join(extra) + "\n", rows + [[]] * len(extra)
        raw = body.encode("cp1252", errors="replace") if kind == "encoding" else body.encode("utf-8")
        if kind == "invalid-bytes":
            lines = raw.split(b"\n")
            for at in range(len(lines) * 3 // 4, len(lines) - 1, 97):
                lines[at] = lines[at].replace(b"@", b"\xff\xfe@", 1)
            raw = b"\n".join(lines)
        uris.append(upload(stack, f"poison-{kind}-{i:03d}.csv", raw))
        total += len(rows)
    return Delivery(uris, total)
