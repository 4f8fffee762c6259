"""The packed key lookup (KeySet) against a plain Python set, and its fall-backs to Arrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.validate import keyset
from sluice.validate.keyset import MAX_BYTES, KeySet
from sluice.validate.references import Reference, distinct_keys, orphan_mask

_text = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="ab\x00é€😀", max_size=9),  # NUL bytes, multi-byte UTF-8, word edges
    st.sampled_from(["", "a", "a\x00", "\x00", "C000001", "x" * 7, "x" * 8, "x" * 15, "x" * 16]),
)
_ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]


def _expected(child: list[tuple[object, ...]], parent: list[tuple[object, ...]]) -> list[bool]:
    known = {k for k in parent if None not in k}
    return [None not in k and k not in known for k in child]


def _mask(child: pa.Table, parent: pa.Table, columns: list[str]) -> list[bool]:
    ref = Reference(columns=columns, to="parents." + ",".join(f"p{i}" for i in range(len(columns))))
    keys = KeySet(distinct_keys(parent.rename_columns([f"p{i}" for i in range(len(columns))]), ref.parent_columns))
    assert keys.num_rows == 0 or keys.missing(child, columns) is not None  # the packed lookup, not Arrow's
    return orphan_mask(child, ref, keys).tolist()


@settings(max_examples=150, deadline=None, suppress_health_check=_SLOW)
@given(
    parent=st.lists(st.none() | _text, max_size=30),
    child=st.lists(st.none() | _text, max_size=30),
    cut=st.integers(0, 3),
    kind=st.sampled_from([pa.string(), pa.large_string(), pa.string_view()]),
)
def test_text_keys_agree_with_a_python_set(parent, child, cut, kind):
    child = parent[: len(parent) // 2] + child  # some keys of the child are the parent's
    # A sliced chunk (offset past 0), as the readers hand out.
    table = pa.table({"k": pa.array(["pad"] * cut + child, kind).slice(cut)})
    assert _mask(table, pa.table({"k": pa.array(parent, pa.string())}), ["k"]) == _expected(
        [(v,) for v in child], [(v,) for v in parent]
    )


@settings(max_examples=100, deadline=None, suppress_health_check=_SLOW)
@given(parent=st.lists(st.none() | _ints, max_size=30), child=st.lists(st.none() | _ints, max_size=30))
def test_integer_keys_agree_with_a_python_set(parent, child):
    child = parent[::2] + child
    table = pa.table({"k": pa.array(child, pa.int64())})
    assert _mask(table, pa.table({"k": pa.array(parent, pa.int64())}), ["k"]) == _expected(
        [(v,) for v in child], [(v,) for v in parent]
    )


_pair = st.tuples(st.none() | st.integers(-3, 3), st.none() | _text)


@settings(max_examples=100, deadline=None, suppress_health_check=_SLOW)
@given(parent=st.lists(_pair, max_size=25), child=st.lists(_pair, max_size=25))
def test_compound_keys_agree_with_a_python_set(parent, child):
    child = parent[1::2] + child

    def table(rows: list[tuple[object, object]], names: list[str]) -> pa.Table:
        return pa.table(
            {
                names[0]: pa.array([r[0] for r in rows], pa.int32()),
                names[1]: pa.array([r[1] for r in rows], pa.string()),
            }
        )

    assert _mask(table(child, ["a", "b"]), table(parent, ["p0", "p1"]), ["a", "b"]) == _expected(child, parent)


def test_a_chunked_child_column_is_checked_across_its_chunks():
    keys = KeySet(pa.table({"k": ["a", "bb", "ccc"]}))
    child = pa.table({"k": pa.chunked_array([["a", "x"], ["ccc", "bb", ""]])})
    assert keys.missing(child, ["k"]).tolist() == [False, True, False, False, True]


def test_parent_strings_longer_than_the_packed_width_are_left_to_arrow():
    long = "z" * (MAX_BYTES + 1)
    keys = KeySet(pa.table({"k": [long, "a"]}))
    child = pa.table({"k": [long, "a", "b"]})
    assert keys.missing(child, ["k"]) is None
    ref = Reference(columns=["k"], to="p.k")
    assert orphan_mask(child, ref, keys).tolist() == [False, False, True]


def test_a_child_longer_than_every_parent_key_is_an_orphan():
    keys = KeySet(pa.table({"k": ["abc"]}))
    assert keys.missing(pa.table({"k": ["abc", "abcd", "abc" + "x" * 100]}), ["k"]).tolist() == [False, True, True]


@pytest.mark.parametrize(
    ("parent", "child"),
    [
        (pa.array([1.5, 2.0]), pa.array([1.5, 3.0])),  # floats are not packed
        (pa.array(["1", "2"]), pa.array([1, 3])),  # a child of another family than the parent's
        (pa.array([1, 2], pa.uint64()), pa.array([1, 3], pa.uint64())),  # beyond int64
    ],
)
def test_unpacked_types_are_checked_by_arrow(parent, child):
    keys = KeySet(pa.table({"k": parent}))
    table = pa.table({"k": child})
    assert keys.missing(table, ["k"]) is None
    assert orphan_mask(table, Reference(columns=["k"], to="p.k"), keys).tolist() == [False, True]


def test_parent_keys_sharing_a_hash_are_left_to_arrow(monkeypatch):
    monkeypatch.setattr(keyset, "_hash", lambda words: np.zeros(len(words), dtype=np.uint64))
    keys = KeySet(pa.table({"a": [1, 2], "b": ["x", "y"]}))
    child = pa.table({"a": [1, 2, 1], "b": ["x", "y", "y"]})
    assert keys.missing(child, ["a", "b"]) is None
    assert orphan_mask(child, Reference(columns=["a", "b"], to="p.a,b"), keys).tolist() == [False, False, True]


def test_a_child_key_with_a_parent_keys_hash_but_other_words_is_an_orphan(monkeypatch):
    # A hash of the first word only: the parents' are distinct, the child's third key collides with one.
    monkeypatch.setattr(keyset, "_hash", lambda words: np.ascontiguousarray(words[:, 0]))
    keys = KeySet(pa.table({"a": [1, 2], "b": ["x", "y"]}))
    child = pa.table({"a": [1, 2, 1, 3], "b": ["x", "y", "y", "x"]})
    assert keys.missing(child, ["a", "b"]).tolist() == [False, False, True, True]
