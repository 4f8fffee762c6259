"""A run resolved in many small key-bucket groups leaves the table one group leaves, and counts the same."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.lake.apply import ApplyResult, apply_batches, lake_rows
from sluice.lake.groups import BUCKETS, Spill, key_buckets, pack
from sluice.validate.contracts import Contract, parse_contract
from tests.sluice.lake.keyed import (
    EPOCH,
    Change,
    contract,
    lake_scd2,
    lake_upsert,
    reference_scd2,
    reference_upsert,
    rows,
)

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TINY = 1  # bytes: every key bucket is a group of its own, every spill goes to disk

changes = st.builds(
    Change,
    key=st.integers(0, 40),
    hour=st.integers(0, 6),
    op=st.sampled_from(["i", "u", "d"]),
    value=st.text("abc", min_size=1, max_size=2),
)
batches = st.lists(st.lists(changes, min_size=1, max_size=12), min_size=1, max_size=4)


def _apply(uri: str, c: Contract, named: list[tuple[str, pa.Table]], budget: int, tmp: Path) -> list[ApplyResult]:
    shutil.rmtree(uri, ignore_errors=True)
    version, out = None, []
    for name, frame in named:
        result = apply_batches(
            uri, c, frame, batch_ids=[name], version=version, metadata={}, group_bytes=budget, work_dir=tmp
        )
        version = result.version
        out.append(result)
    return out


def _counts(results: list[ApplyResult]) -> list[tuple[int, ...]]:
    return [(r.inserted, r.updated, r.deleted, r.unchanged, r.superseded) for r in results]


@pytest.mark.parametrize(("mode", "deletes"), [("upsert", "tombstone"), ("scd2", "tombstone")])
@SETTINGS
@given(drawn=batches)
def test_a_run_in_many_groups_equals_the_reference_and_one_group(tmp_path, mode, deletes, drawn):
    c = contract(mode, deletes)
    named = [(f"b{i}", b) for i, b in enumerate(drawn)]
    frames = [(name, rows(b, c, name)) for name, b in named]
    grouped = _apply(str(tmp_path / "grouped"), c, frames, TINY, tmp_path)
    whole = _apply(str(tmp_path / "whole"), c, frames, 2**30, tmp_path)

    read = lake_upsert if mode == "upsert" else lake_scd2
    reference = reference_upsert if mode == "upsert" else reference_scd2
    assert read(str(tmp_path / "grouped")) == reference(dict(named), tombstone=True)
    assert read(str(tmp_path / "grouped")) == read(str(tmp_path / "whole"))
    assert _counts(grouped) == _counts(whole)
    first = frames[0][1]
    assert grouped[0].groups == len(np.unique(key_buckets(first, ["id"])))  # one group per bucket of the keys
    assert all(r.groups == 1 for r in whole)


_CDC = """
name: accounts
owner: crm@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {{column: ts}}
mode: {mode}
order_by: _lsn
deletes: hard
columns:
  - {{name: id, type: int64}}
  - {{name: ts, type: timestamp}}
  - {{name: v, type: string, nullable: true}}
  - {{name: w, type: string, nullable: true}}
  - {{name: _op, type: string, nullable: true}}
  - {{name: _lsn, type: int64}}
"""


@dataclass(frozen=True)
class Op:
    """One captured change: ``kind`` i, u (``keep_w``: w not sent), d (key only), t, or m (key ``key`` -> ``to``)."""

    kind: str
    key: int
    to: int
    value: str
    keep_w: bool


ops_ = st.builds(
    Op,
    kind=st.sampled_from(["i", "i", "u", "u", "d", "t", "m"]),
    key=st.integers(0, 30),
    to=st.integers(31, 60),
    value=st.text("xyz", min_size=1, max_size=2),
    keep_w=st.booleans(),
)


def _change_rows(ops: list[Op], lsn: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for op in ops:
        lsn += 1
        ts = EPOCH + timedelta(hours=lsn)
        row = {"id": op.key, "ts": ts, "v": op.value, "w": op.value * 2, "_op": op.kind, "_lsn": lsn}
        if op.kind in ("u", "m"):
            row["_unchanged"] = json.dumps(["w"]) if op.keep_w else None
        if op.kind == "d":
            row.update(ts=None, v=None, w=None)
        if op.kind == "t":
            row.update(id=None, v=None, w=None)
        if op.kind == "m":  # a key change: the old key's delete (key only) and the new key's update, one LSN
            out.append({"id": op.key, "ts": None, "v": None, "w": None, "_op": "d", "_lsn": lsn})
            row.update(id=op.to, _op="u", w=None if op.keep_w else row["w"])
        out.append(row)
    return out


def _cdc_frame(c: Contract, ops: list[Op], lsn: int, batch: str) -> pa.Table:
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("v", pa.string()),
            ("w", pa.string()),
            ("_op", pa.string()),
            ("_lsn", pa.int64()),
            ("_unchanged", pa.string()),
        ]
    )
    return lake_rows(pa.Table.from_pylist(_change_rows(ops, lsn), schema), c, batch)


def _table(uri: str, c: Contract) -> list[dict[str, object]]:
    names = ["id", "ts", "v", "w", "_op", "_lsn", "dt"] + (["valid_to", "is_current"] if c.mode.value == "scd2" else [])
    found = DeltaTable(uri).to_pyarrow_table(columns=names)
    return sorted(found.to_pylist(), key=lambda r: (r["id"], r["_lsn"]))


@pytest.mark.parametrize("mode", ["upsert", "scd2"])
@SETTINGS
@given(drawn=st.lists(st.lists(ops_, min_size=1, max_size=10), min_size=1, max_size=4))
def test_change_rows_resolve_the_same_in_many_groups(tmp_path, mode, drawn):
    c = parse_contract(_CDC.format(mode=mode))
    frames, lsn = [], 0
    for i, batch in enumerate(drawn):
        frames.append((f"c{i}", _cdc_frame(c, batch, lsn, f"c{i}")))
        lsn += len(batch)
    grouped = _apply(str(tmp_path / "grouped"), c, frames, TINY, tmp_path)
    whole = _apply(str(tmp_path / "whole"), c, frames, 2**30, tmp_path)
    assert _table(str(tmp_path / "grouped"), c) == _table(str(tmp_path / "whole"), c)
    assert _counts(grouped) == _counts(whole)


def test_a_key_change_puts_its_old_and_new_key_in_one_group():
    sizes = np.zeros(BUCKETS, dtype=np.int64)
    sizes[[3, 9, 40]] = 10
    assert list(pack(sizes, budget=1)) == [[3], [9], [40]]
    assert sorted(map(sorted, pack(sizes, budget=1, links=[(40, 3)]))) == [[3, 40], [9]]


def test_a_spill_past_its_budget_reads_back_every_row_of_a_group(tmp_path):
    spill = Spill(pa.schema([("k", pa.int64())]), tmp_path / "s", budget=1)
    for start in (0, 100):
        part = pa.table({"k": pa.array(np.arange(start, start + 100), pa.int64())})
        spill.add(part, key_buckets(part, ["k"]))
    assert spill.spilled
    group = [int(b) for b in np.flatnonzero(spill.rows)]
    assert sorted(spill.read(group).column("k").to_pylist()) == list(range(200))
    one = group[0]
    assert len(spill.read([one])) == spill.rows[one]
