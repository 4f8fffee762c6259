"""Incremental daily aggregates equal a recomputation from scratch, whatever appends, upserts and deletes came."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.aggregates.build import build, consumed_version, recompute
from sluice.errors import LakeError
from tests.factories import LakeOrder, lake_orders_table


def append(uri: str, orders: list[LakeOrder]) -> None:
    write_deltalake(uri, lake_orders_table(orders), mode="append", partition_by=["dt"])


def upsert(uri: str, orders: list[LakeOrder]) -> None:
    (
        DeltaTable(uri)
        .merge(lake_orders_table(orders), "t.order_id = s.order_id", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )


def delete(uri: str, ids: list[int]) -> None:
    DeltaTable(uri).delete(f"order_id IN ({', '.join(str(i) for i in ids)})")


def aggregates(uri: str) -> list[dict[str, object]]:
    rows = DeltaTable(uri).to_pyarrow_table().sort_by([("dt", "ascending"), ("currency", "ascending")])
    return rows.to_pylist()


def same(found: list[dict[str, object]], expected: pa.Table) -> bool:
    want = expected.to_pylist()
    keys = [(r["dt"], r["currency"], r["orders"], r["customers"], r["quantity"]) for r in found]
    if keys != [(r["dt"], r["currency"], r["orders"], r["customers"], r["quantity"]) for r in want]:
        return False
    pairs = zip(found, want, strict=True)
    return all(abs(a["amount"] - b["amount"]) <= 1e-6 * max(1.0, abs(b["amount"])) for a, b in pairs)


@pytest.fixture()
def lake(tmp_path: Path) -> tuple[str, str]:
    return str(tmp_path / "orders"), str(tmp_path / "orders_daily")


def test_an_upsert_that_moves_an_order_to_another_day_changes_both_days(lake):
    source, target = lake
    append(source, [LakeOrder(1, day=0, amount=5.0), LakeOrder(2, day=0, amount=7.0), LakeOrder(3, day=2)])
    first = build("orders", source, target)
    upsert(source, [LakeOrder(2, day=1, amount=7.0)])

    second = build("orders", source, target)

    assert first.full and first.days == 2
    assert not second.full and second.days == 2 and second.consumed_before == first.source_version
    found = [(r["dt"], r["orders"], r["amount"]) for r in aggregates(target)]
    assert found == [(date(2024, 3, 1), 1, 5.0), (date(2024, 3, 2), 1, 7.0), (date(2024, 3, 3), 1, 10.0)]


def test_a_day_whose_orders_are_all_deleted_loses_its_row_and_other_days_keep_theirs(lake):
    source, target = lake
    append(source, [LakeOrder(1, day=0), LakeOrder(2, day=1, currency="USD"), LakeOrder(3, day=1)])
    build("orders", source, target)
    delete(source, [2, 3])

    result = build("orders", source, target)

    assert result.days == 1 and [(r["dt"], r["currency"]) for r in aggregates(target)] == [(date(2024, 3, 1), "EUR")]


def test_the_consumed_version_is_in_the_commit_metadata_and_a_second_build_commits_nothing(lake):
    source, target = lake
    append(source, [LakeOrder(1, day=0)])
    append(source, [LakeOrder(2, day=3)])
    first = build("orders", source, target)
    again = build("orders", source, target)

    (entry,) = DeltaTable(target).history(1)
    assert json.loads(entry["sluice.aggregates"])["source_version"] == 1 == consumed_version(target, "orders")
    assert first.changed and not again.changed and DeltaTable(target).version() == first.version


def test_a_consumed_version_whose_log_is_gone_recomputes_every_day(lake, tmp_path):
    source, target = lake
    append(source, [LakeOrder(1, day=0)])
    build("orders", source, target)
    append(source, [LakeOrder(2, day=1)])
    # The log of version 0 disappears (log cleanup after a checkpoint): no diff against it can be made.
    DeltaTable(source).create_checkpoint()
    (Path(source) / "_delta_log" / "00000000000000000000.json").unlink()

    result = build("orders", source, target)

    assert result.full and same(aggregates(target), recompute(source))


def test_a_source_without_a_table_is_a_lake_error_with_a_hint(lake):
    source, target = lake
    with pytest.raises(LakeError, match="orders has no table") as caught:
        build("orders", source, target)
    assert "ingest orders first" in caught.value.hint


def test_a_consumed_version_that_is_not_a_number_rebuilds_from_scratch(lake):
    source, target = lake
    append(source, [LakeOrder(1, day=0)])
    bogus = {"sluice.aggregates": json.dumps({"source": "orders", "source_version": "seven"})}
    from deltalake import CommitProperties

    write_deltalake(target, recompute(source), commit_properties=CommitProperties(custom_metadata=bogus))
    append(source, [LakeOrder(2, day=1)])

    result = build("orders", source, target)

    assert result.full and result.consumed_before is None and same(aggregates(target), recompute(source))


ORDER = st.builds(
    LakeOrder,
    order_id=st.integers(1, 12),
    day=st.integers(0, 4),
    currency=st.sampled_from(["EUR", "USD"]),
    customer=st.integers(1, 4),
    quantity=st.integers(1, 5),
    amount=st.floats(0, 1000, allow_nan=False).map(lambda a: round(a, 2)),
)
STEP = st.one_of(
    st.tuples(st.just("append"), st.lists(ORDER, min_size=1, max_size=4)),
    st.tuples(st.just("upsert"), st.lists(ORDER, min_size=1, max_size=4, unique_by=lambda o: o.order_id)),
    st.tuples(st.just("delete"), st.lists(st.integers(1, 12), min_size=1, max_size=3)),
    st.tuples(st.just("build"), st.just([])),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=8))
def test_incremental_aggregates_equal_a_recomputation_after_any_operations(tmp_path_factory, steps):
    root = tmp_path_factory.mktemp("agg")
    source, target = str(root / "orders"), str(root / "orders_daily")
    append(source, [LakeOrder(100, day=0)])
    for op, arg in steps:
        if op == "append":
            append(source, arg)
        elif op == "upsert":
            upsert(source, arg)
        elif op == "delete":
            delete(source, arg)
        else:
            build("orders", source, target)
            assert same(aggregates(target), recompute(source)), steps

    build("orders", source, target)

    assert same(aggregates(target), recompute(source)), steps
    assert consumed_version(target, "orders") == DeltaTable(source).version()
