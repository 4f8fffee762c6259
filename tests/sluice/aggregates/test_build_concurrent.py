"""Builds of the same aggregates at once, while the source takes commits: they take turns, none is lost."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

from deltalake import DeltaTable, write_deltalake

from sluice.aggregates.build import aggregates_name, build_leased, recompute
from sluice.lake.lease import holder_name
from sluice.lake.table import table_uri
from tests.factories import LakeOrder, lake_orders_table

BUILDERS = 4
COMMITS = 6


def test_concurrent_builds_take_turns_and_end_equal_to_a_recomputation(sluice_home):
    settings = sluice_home
    source = table_uri(settings.lake_root(), "orders")
    target = table_uri(settings.lake_root(), aggregates_name("orders"))
    write_deltalake(source, lake_orders_table([LakeOrder(1, day=0)]), partition_by=["dt"])
    start = threading.Barrier(BUILDERS + 1)

    def builder(i: int) -> list[int]:
        start.wait()
        return [build_leased("orders", settings, holder_name(f"builder-{i}-{n}")).source_version for n in range(3)]

    with ThreadPoolExecutor(BUILDERS) as pool:
        futures = [pool.submit(builder, i) for i in range(BUILDERS)]
        start.wait()
        for n in range(COMMITS):
            orders = [LakeOrder(10 * n + k, day=(n + k) % 4, currency=("EUR", "USD")[k % 2]) for k in range(3)]
            write_deltalake(source, lake_orders_table(orders), mode="append", partition_by=["dt"])
        seen = [f.result() for f in futures]
    final = build_leased("orders", settings, holder_name("last"))

    consumed = [
        json.loads(e["sluice.aggregates"])["source_version"]
        for e in reversed(DeltaTable(target).history())
        if "sluice.aggregates" in e
    ]
    assert consumed == sorted(consumed) and len(set(consumed)) == len(consumed), consumed
    assert final.source_version == DeltaTable(source).version() == COMMITS
    assert all(v <= COMMITS for versions in seen for v in versions)
    found = DeltaTable(target).to_pyarrow_table().sort_by([("dt", "ascending"), ("currency", "ascending")])
    assert found.to_pylist() == recompute(source).to_pylist()
