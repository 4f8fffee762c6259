"""A stream's exploded arrays: child rows committed before the parent's positions, each exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from sluice.errors import LakeConflictError
from sluice.lake.table import table_uri
from sluice.sources.streams import sink as sink_module
from sluice.sources.streams.base import Message, Offset, StreamBatch
from sluice.validate.contracts import parse_contract
from tests.factories import CARTS_CONTRACT
from tests.sluice.sources.streams.conftest import make_sink


def cart(i: int, items: Any) -> bytes:
    return json.dumps({"cart_id": i, "at": "2024-03-05T10:00:00Z", "items": items}).encode()


def batch(first: int, last: int) -> StreamBatch:
    return StreamBatch(
        [
            Message("p0", Offset(i), None, cart(i, [{"sku": f"S{i}-{k}", "qty": k + 1} for k in range(i % 3)]))
            for i in range(first, last + 1)
        ]
    )


def _rows(home: Path, dataset: str) -> list[dict[str, Any]]:
    uri = table_uri(str(home / "lake"), dataset)
    return DeltaTable(uri).to_pyarrow_table().to_pylist()


def _items(home: Path) -> dict[tuple[int, int], tuple[str, int]]:
    rows = _rows(home, "cart_items")
    assert len(rows) == len({(r["cart_id"], r["pos"]) for r in rows}), "a child row landed twice"
    return {(r["cart_id"], r["pos"]): (r["sku"], r["qty"]) for r in rows}


def _expected(last: int) -> dict[tuple[int, int], tuple[str, int]]:
    return {(i, k): (f"S{i}-{k}", k + 1) for i in range(last + 1) for k in range(i % 3)}


def test_a_batch_lands_parents_without_the_array_and_one_child_row_per_element(tmp_path):
    sink = make_sink(tmp_path, parse_contract(CARTS_CONTRACT))
    bad = StreamBatch(
        [
            Message("p0", Offset(9), None, cart(9, [{"sku": "x", "qty": 0}, 5])),
            Message("p0", Offset(10), None, cart(10, {"no": 1})),
        ]
    )

    first = sink.write("redis:carts", batch(0, 8))
    second = sink.write("redis:carts", bad)

    assert sorted(r["cart_id"] for r in _rows(tmp_path, "carts")) == list(range(10))  # 10: not an array
    assert "items" not in _rows(tmp_path, "carts")[0]
    assert _items(tmp_path) == _expected(8)
    child = first.children["cart_items"]
    assert (child.read, child.written, child.quarantined, child.duplicate) == (9, 9, 0, 0)
    bad_child = second.children["cart_items"]
    assert (second.written, second.quarantined) == (1, 1)
    assert (bad_child.read, bad_child.written, bad_child.quarantined) == (2, 0, 2)


def test_a_stop_between_the_child_and_parent_commits_is_completed_exactly_by_the_next_read(tmp_path, monkeypatch):
    sink = make_sink(tmp_path, parse_contract(CARTS_CONTRACT))
    real = sink_module.commit_rows

    def parent_fails(target, *args, **kwargs):
        if target.dataset == "carts":
            raise LakeConflictError("the parent's commit did not happen")
        return real(target, *args, **kwargs)

    monkeypatch.setattr(sink_module, "commit_rows", parent_fails)
    with pytest.raises(LakeConflictError):
        sink.write("redis:carts", batch(0, 5))
    assert _items(tmp_path) == _expected(5)
    monkeypatch.setattr(sink_module, "commit_rows", real)

    again = sink.write("redis:carts", batch(0, 5))  # the same messages, read again from the same positions
    wider = sink.write("redis:carts", batch(0, 11))  # a re-read that reaches further: the new messages only

    assert sorted(r["cart_id"] for r in _rows(tmp_path, "carts")) == list(range(12))
    assert _items(tmp_path) == _expected(11)
    child = again.children["cart_items"]
    assert (child.read, child.written, child.duplicate) == (6, 0, 6)  # the batch id is in the child table
    assert wider.children["cart_items"].written == len(_expected(11)) - len(_expected(5))


def test_children_re_read_in_other_batch_boundaries_are_duplicates_not_second_rows(tmp_path, monkeypatch):
    sink = make_sink(tmp_path, parse_contract(CARTS_CONTRACT))
    real = sink_module.commit_rows

    def parent_fails(target, *args, **kwargs):
        if target.dataset == "carts":
            raise LakeConflictError("the parent's commit did not happen")
        return real(target, *args, **kwargs)

    monkeypatch.setattr(sink_module, "commit_rows", parent_fails)
    with pytest.raises(LakeConflictError):
        sink.write("redis:carts", batch(0, 5))
    monkeypatch.setattr(sink_module, "commit_rows", real)

    wider = sink.write("redis:carts", batch(0, 8))  # the broker hands the messages back in a larger batch

    assert _items(tmp_path) == _expected(8)
    child = wider.children["cart_items"]
    assert child.written == len(_expected(8)) - len(_expected(5))
    assert child.duplicate == len(_expected(5))
