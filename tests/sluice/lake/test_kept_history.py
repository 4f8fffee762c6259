"""The history a source's position is read from: commits a later rollback undid are not held by the table."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from hypothesis import given
from hypothesis import strategies as st

from sluice.lake.rollback import RollbackRequest, restore
from sluice.lake.table import ROLLBACK_META, kept_history, undone_by
from sluice.lake.write import commit_metadata


def _commit(uri: str, position: str) -> None:
    meta = commit_metadata({"sources": [{"source": "db", "position": position}]})
    write_deltalake(uri, pa.table({"id": [1]}), mode="append", commit_properties=CommitProperties(custom_metadata=meta))


def _positions(uri: str) -> list[str]:
    entries = kept_history(DeltaTable(uri).history())
    return [json.loads(e["sluice.sources"])[0]["position"] for e in entries if "sluice.sources" in e]


def _roll_back(uri: str, to_version: int) -> None:
    restore(uri, RollbackRequest("t", to_version, "test", "user tests"))


def test_a_rolled_back_commit_no_longer_holds_its_position(tmp_path: Path):
    uri = str(tmp_path / "t")
    for position in ("a", "b", "c"):
        _commit(uri, position)

    _roll_back(uri, 0)

    assert _positions(uri) == ["a"]
    _commit(uri, "b2")
    assert _positions(uri) == ["b2", "a"]


def test_a_rollback_that_was_itself_rolled_back_undoes_nothing(tmp_path: Path):
    uri = str(tmp_path / "t")
    _commit(uri, "a")
    _commit(uri, "b")
    _roll_back(uri, 0)  # version 2 undoes version 1

    _roll_back(uri, 1)  # version 3 undoes version 2: version 1's rows are back

    assert _positions(uri) == ["b", "a"]


def test_a_commit_without_a_rollback_record_undoes_nothing():
    assert undone_by({"version": 3, "operation": "WRITE"}) == []


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=60),
        st.recursive(
            st.none() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["undone", "x"]), inner, max_size=2)
            ),
            max_leaves=8,
        ).map(json.dumps),
    )
)
def test_any_rollback_record_reads_as_a_list_of_versions_or_none(raw):
    found = undone_by({ROLLBACK_META: raw})

    assert isinstance(found, list) and all(isinstance(v, int) for v in found)
