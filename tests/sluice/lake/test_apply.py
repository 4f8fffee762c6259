"""Keyed tables: after any sequence of batches the table equals the reference computed in plain Python."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import LakeConflictError
from sluice.lake.apply import ApplyResult, apply_batches
from sluice.validate.contracts import Contract
from tests.sluice.lake.keyed import (
    Change,
    contract,
    lake_scd2,
    lake_upsert,
    reference_scd2,
    reference_upsert,
    rows,
)

changes = st.builds(
    Change,
    key=st.integers(0, 4),
    hour=st.integers(0, 6),
    op=st.sampled_from(["i", "u", "d"]),
    value=st.text("abc", min_size=1, max_size=2),
)
batches = st.lists(st.lists(changes, min_size=1, max_size=6), min_size=1, max_size=5)
# Replays: indexes into the batches, applied again after all of them.
replays = st.lists(st.integers(0, 4), max_size=3)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _apply_all(uri: str, c: Contract, named: list[tuple[str, list[Change]]]) -> list[ApplyResult]:
    version = DeltaTable(uri).version() if Path(uri, "_delta_log").exists() else None
    out = []
    for name, changes_ in named:
        result = apply_batches(uri, c, rows(changes_, c, name), batch_ids=[name], version=version, metadata={})
        version = result.version
        out.append(result)
    return out


def _conserved(results: list[ApplyResult], named: list[tuple[str, list[Change]]]) -> None:
    for r, (_, changes_) in zip(results, named, strict=True):
        assert r.inserted + r.updated + r.deleted + r.unchanged + r.superseded == len(changes_)


def _monotone(drawn: list[list[Change]]) -> list[list[Change]]:
    """The same changes with hours growing in arrival order (a CDC stream's LSNs)."""
    hour, out = 0, []
    for batch in drawn:
        out.append([Change(ch.key, hour := hour + 1, ch.op, ch.value) for ch in batch])
    return out


def _run(tmp_path: Path, c: Contract, drawn: list[list[Change]], again: list[int]) -> tuple[str, dict]:
    uri = str(tmp_path / "lake")
    shutil.rmtree(uri, ignore_errors=True)
    named = [(f"b{i:02d}", b) for i, b in enumerate(drawn)]
    _conserved(_apply_all(uri, c, named), named)
    replayed = [named[i] for i in again if i < len(named)]
    before = (lake_upsert(uri) if c.mode.value == "upsert" else lake_scd2(uri), len(DeltaTable(uri).file_uris()))
    version = DeltaTable(uri).version()
    for result, (name, _) in zip(_apply_all(uri, c, replayed), replayed, strict=True):
        assert result.skipped == (name,) and result.version == version  # a replay writes no version
    after = (lake_upsert(uri) if c.mode.value == "upsert" else lake_scd2(uri), len(DeltaTable(uri).file_uris()))
    assert after == before and DeltaTable(uri).version() == version
    return uri, dict(named)


@SETTINGS
@given(drawn=batches, again=replays)
def test_upsert_with_tombstones_holds_the_latest_version_of_each_key_whatever_the_arrival_order(tmp_path, drawn, again):
    uri, named = _run(tmp_path, contract("upsert", "tombstone"), drawn, again)
    assert lake_upsert(uri) == reference_upsert(named, tombstone=True)


@SETTINGS
@given(drawn=batches, again=replays)
def test_upsert_with_hard_deletes_holds_the_latest_live_version_of_each_key(tmp_path, drawn, again):
    uri, named = _run(tmp_path, contract("upsert", "hard"), _monotone(drawn), again)
    assert lake_upsert(uri) == reference_upsert(named, tombstone=False)


@SETTINGS
@given(drawn=batches, again=replays)
def test_scd2_with_tombstones_holds_every_version_at_its_place_in_the_history(tmp_path, drawn, again):
    uri, named = _run(tmp_path, contract("scd2", "tombstone"), drawn, again)
    assert lake_scd2(uri) == reference_scd2(named, tombstone=True)


@SETTINGS
@given(drawn=batches, again=replays)
def test_scd2_with_hard_deletes_closes_the_interval_a_delete_ends(tmp_path, drawn, again):
    uri, named = _run(tmp_path, contract("scd2", "hard"), _monotone(drawn), again)
    assert lake_scd2(uri) == reference_scd2(named, tombstone=False)


def test_an_older_version_arriving_later_never_overwrites_a_newer_one(tmp_path):
    c, uri = contract("upsert"), str(tmp_path / "lake")
    first = _apply_all(uri, c, [("b1", [Change(1, 5, "u", "new")])])
    late = _apply_all(uri, c, [("b2", [Change(1, 2, "u", "old"), Change(2, 1, "i", "x")])])
    assert (first[0].inserted, late[0].unchanged, late[0].inserted) == (1, 1, 1)
    assert lake_upsert(uri) == [(1, 5, "u", "new"), (2, 1, "i", "x")]


@pytest.mark.parametrize("second", ["a0", "z9"])  # batch ids sorting before and after the first one
def test_the_same_version_in_another_batch_is_unchanged_and_rewrites_no_file(tmp_path, second):
    c, uri = contract("upsert"), str(tmp_path / "lake")
    _apply_all(uri, c, [("m5", [Change(1, 5, "u", "same"), Change(2, 5, "u", "other")])])
    files = {p.name for p in Path(uri).rglob("*.parquet")}
    again = _apply_all(uri, c, [(second, [Change(1, 5, "u", "same"), Change(2, 5, "u", "changed")])])
    assert (again[0].updated, again[0].unchanged) == ((1, 1) if second == "z9" else (0, 2))
    if second == "a0":
        assert {p.name for p in Path(uri).rglob("*.parquet")} == files
    assert lake_upsert(uri)[0] == (1, 5, "u", "same")


def test_a_late_change_splits_the_interval_it_falls_into(tmp_path):
    c, uri = contract("scd2"), str(tmp_path / "lake")
    _apply_all(uri, c, [("b1", [Change(1, 1, "i", "a"), Change(1, 5, "u", "c")])])
    late = _apply_all(uri, c, [("b2", [Change(1, 3, "u", "b")])])
    assert late[0].updated == 1
    assert lake_scd2(uri) == [(1, 1, 3, False, "a"), (1, 3, 5, False, "b"), (1, 5, None, True, "c")]


def test_a_key_whose_date_changes_moves_to_its_new_date(tmp_path):
    c, uri = contract("upsert"), str(tmp_path / "lake")
    _apply_all(uri, c, [("b1", [Change(1, 1, "i", "a")]), ("b2", [Change(1, 50, "u", "b")])])
    table = DeltaTable(uri).to_pyarrow_table(columns=["id", "dt"])
    assert table.num_rows == 1 and str(table.column("dt")[0]) == "2024-01-03"


def test_an_apply_planned_at_an_old_version_commits_nothing(tmp_path):
    c, uri = contract("upsert"), str(tmp_path / "lake")
    _apply_all(uri, c, [("b1", [Change(1, 1, "i", "a")]), ("b2", [Change(2, 1, "i", "b")])])
    files = {p.name for p in Path(uri).rglob("*.parquet")}

    with pytest.raises(LakeConflictError):
        apply_batches(uri, c, rows([Change(1, 9, "u", "z")], c, "b3"), batch_ids=["b3"], version=1, metadata={})

    assert DeltaTable(uri).version() == 2 and DeltaTable(uri).transaction_version("b3") is None
    assert {p.name for p in Path(uri).rglob("*.parquet")} == files  # the losing attempt left no file
    assert lake_upsert(uri) == [(1, 1, "i", "a"), (2, 1, "i", "b")]
