"""Arrays exploded into child rows: one row per element, keyed and indexed; hostile arrays never a traceback."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.formats import ColumnPaths, RawChunk, open_reader
from sluice.formats import explode as explode_module
from sluice.ingest_children import validate_children
from sluice.sources.files import list_source_files
from sluice.validate.chunk import BatchContext, ChunkResult, validate_chunk
from sluice.validate.contracts import Contract, parse_contract

CONTRACT = """
name: polls
owner: data@sluice.example
freshness_sla: 1d
primary_key: [poll_id]
partition: {column: ts}
columns:
  - {name: poll_id, type: int64}
  - {name: ts, type: timestamp}
explode:
  answers:
    dataset: poll_answers
    parent_key: [poll_id]
    index_column: n
    carry: [ts]
    VALUE
    contract:
      name: poll_answers
      owner: data@sluice.example
      freshness_sla: 1d
      primary_key: [poll_id, n]
      partition: {column: ts}
      columns:
        - {name: poll_id, type: int64}
        - {name: n, type: int64}
        - {name: ts, type: timestamp}
        - {name: text, type: string, nullable: true}
        - {name: votes, type: int64, nullable: true}
        - {name: share, type: float64, nullable: true}
        - {name: final, type: bool, nullable: true}
        - {name: tags, type: list, items: string, nullable: true}
        - {name: meta_source, type: string, nullable: true}
"""
TS = "2024-03-05T10:00:00Z"


def contract(value_column: str | None = None) -> Contract:
    return parse_contract(CONTRACT.replace("VALUE", f"value_column: {value_column}" if value_column else ""))


def _chunks(tmp_path: Path, records: list[Any], c: Contract) -> list[RawChunk]:
    path = tmp_path / "p.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    src = list_source_files(str(tmp_path), "p.jsonl")[0]
    reader = open_reader(src, c.column_names, encoding=None, chunk_rows=1000, paths=ColumnPaths.of(c))
    return list(reader.chunks())


def children(tmp_path: Path, records: list[Any], c: Contract) -> list[tuple[ChunkResult, ChunkResult]]:
    out = []
    for chunk in _chunks(tmp_path, records, c):
        ctx = BatchContext(c.name, "run", "batch", "p.jsonl", date(2024, 3, 5))
        parent = validate_chunk(chunk, c, ctx)
        out.append((parent, validate_children(chunk, parent, ctx, "answers", c.explode["answers"])))
    return out


def _valid_rows(result: ChunkResult) -> list[dict[str, Any]]:
    keep = ["poll_id", "n", "text", "votes", "share", "final", "tags", "meta_source"]
    return [{k: r[k] for k in keep} for r in result.valid.select(keep).to_pylist()]


ANSWERS = [
    {"text": "yes", "votes": 3, "share": 0.5, "final": True, "tags": ["a"], "meta": {"source": "web"}},
    {"text": "no", "votes": 1, "share": 1, "final": False, "tags": [], "meta_source": "app"},
    {},
]


def test_each_element_is_a_child_row_with_its_parent_key_and_index(tmp_path):
    records = [
        {"poll_id": 1, "ts": TS, "answers": ANSWERS},
        {"poll_id": 2, "ts": TS, "answers": []},
        {"poll_id": 3, "ts": TS, "answers": None},
        {"poll_id": 4, "ts": TS},
    ]

    ((parent, child),) = children(tmp_path, records, contract())

    assert parent.valid.num_rows == 4 and child.quarantine.num_rows == 0
    assert _valid_rows(child) == [
        {
            "poll_id": 1,
            "n": 0,
            "text": "yes",
            "votes": 3,
            "share": 0.5,
            "final": True,
            "tags": ["a"],
            "meta_source": "web",
        },
        {
            "poll_id": 1,
            "n": 1,
            "text": "no",
            "votes": 1,
            "share": 1.0,
            "final": False,
            "tags": [],
            "meta_source": "app",
        },
        {
            "poll_id": 1,
            "n": 2,
            "text": None,
            "votes": None,
            "share": None,
            "final": None,
            "tags": None,
            "meta_source": None,
        },
    ]


def test_arrow_and_the_parser_give_the_same_child_rows(tmp_path, monkeypatch):
    records = [{"poll_id": i, "ts": TS, "answers": ANSWERS[: i % 4]} for i in range(1, 40)]
    ((_, fast),) = children(tmp_path, records, contract())

    monkeypatch.setattr(explode_module, "_fast", lambda *args: None)
    ((_, slow),) = children(tmp_path, records, contract())

    assert _valid_rows(fast) == _valid_rows(slow) and fast.valid.num_rows == sum(i % 4 for i in range(1, 40))


def test_scalar_elements_fill_the_value_column(tmp_path):
    records = [{"poll_id": 1, "ts": TS, "answers": ["yes", "no", None]}, {"poll_id": 2, "ts": TS, "answers": [7]}]

    ((_, child),) = children(tmp_path, records, contract(value_column="text"))

    assert [(r["poll_id"], r["n"], r["text"]) for r in _valid_rows(child)] == [
        (1, 0, "yes"),
        (1, 1, "no"),
        (1, 2, None),
        (2, 0, "7"),
    ]


@pytest.mark.parametrize(
    ("answers", "reason", "check"),
    [
        ([{"votes": "many"}], "unparseable_int", None),
        (["yes"], "wrong_shape", "shape: object element, found scalar"),
        ([[1, 2]], "wrong_shape", "shape: object element, found array"),
        ([None], "wrong_shape", "shape: object element, found null"),
        ([{"text": {"deep": 1}}], "wrong_shape", "shape: scalar, found object"),
        ([{"tags": "a"}], "wrong_shape", "shape: list of string, found scalar"),
    ],
)
def test_a_wrong_element_is_quarantined_with_its_reason_and_parent_key(tmp_path, answers, reason, check):
    ((parent, child),) = children(tmp_path, [{"poll_id": 9, "ts": TS, "answers": answers}], contract())

    assert parent.valid.num_rows == 1 and child.valid.num_rows == 0
    (entry,) = child.quarantine.to_pylist()
    assert entry["reason"] == reason and entry["dataset"] == "poll_answers"
    assert dict(entry["record"])["poll_id"] == "9" and dict(entry["record"])["n"] == "0"
    if check is not None:
        assert entry["check"] == check


def test_an_array_that_is_not_an_array_quarantines_its_parent_and_has_no_children(tmp_path):
    records = [{"poll_id": 1, "ts": TS, "answers": {"text": "yes"}}, {"poll_id": 2, "ts": TS, "answers": "yes"}]

    ((parent, child),) = children(tmp_path, records, contract())

    assert parent.valid.num_rows == 0
    assert sorted(parent.quarantine.column("reason").to_pylist()) == ["wrong_shape", "wrong_shape"]
    assert child.rows_read == 0


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)  # Infinity is not JSON: test_jsonl quarantines it
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["text", "votes", "tags", "meta", "x"]), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=st.lists(st.one_of(st.lists(JSON, max_size=6), JSON), min_size=1, max_size=6), raw=st.booleans())
def test_hostile_arrays_give_one_child_row_per_element_and_never_a_traceback(tmp_path, answers, raw):
    records: list[Any] = [{"poll_id": i + 1, "ts": TS, "answers": a} for i, a in enumerate(answers)]
    if raw:
        records.append('{"poll_id": 99, "ts": "' + TS + '", "answers": [1, {"votes": 2}, "x"')  # cut off
    c = contract(value_column="text") if len(answers) % 2 else contract()

    results = children(tmp_path, records, c)

    elements = sum(len(a) for a in answers if isinstance(a, list))
    read = sum(child.rows_read for _, child in results)
    assert read == elements
    assert sum(child.valid.num_rows + child.quarantine.num_rows for _, child in results) == read
    parents_valid = {r for parent, _ in results for r in parent.valid.column("poll_id").to_pylist()}
    assert {r for _, child in results for r in child.valid.column("poll_id").to_pylist()} <= parents_valid
