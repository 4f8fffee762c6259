"""The downstream graph: edges from run sources and declared lists, walked once per dataset."""

from __future__ import annotations

import pytest

from sluice.errors import ContractError
from sluice.lineage.graph import build_graph, impact
from sluice.lineage.known import deployments
from sluice.validate.contracts import Contract, parse_contract


def a_contract(name: str, downstream: tuple[str, ...] = ()) -> Contract:
    extra = f"downstream: [{', '.join(downstream)}]\n" if downstream else ""
    return parse_contract(
        f"name: {name}\nowner: o@x\nfreshness_sla: 1d\nprimary_key: [id]\npartition: {{column: day}}\n"
        f"columns:\n  - {{name: id, type: string}}\n  - {{name: day, type: date}}\n{extra}"
    )


def test_a_diamond_lists_each_dataset_once_by_its_shortest_path() -> None:
    graph = build_graph(
        [a_contract("a", ("b", "c")), a_contract("b", ("d",)), a_contract("c", ("d",)), a_contract("d", ("a",))],
        [],
        {},
    )

    found = impact(graph, "a")

    assert [(i.dataset, i.path) for i in found] == [("b", ("a", "b")), ("c", ("a", "c")), ("d", ("a", "b", "d"))]


def test_a_run_reading_a_sibling_prefix_is_no_edge() -> None:
    locations = {"a": "/lake/a", "a_v2": "/lake/a_v2", "b": "/lake/b"}
    graph = build_graph([], [("b", "/lake/a_v2/part-0.parquet")], locations)

    assert [i.dataset for i in impact(graph, "a")] == []
    assert [i.dataset for i in impact(graph, "a_v2")] == ["b"]


def test_a_downstream_entry_must_be_a_dataset_name() -> None:
    with pytest.raises(ContractError, match="downstream 'Finance Mart'"):
        a_contract("a", ("'Finance Mart'",))


def test_deployments_are_read_by_the_dataset_their_parameters_name(tmp_path) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text(
        "deployments:\n"
        "  - {name: o-dev, entrypoint: flows/ingest_files.py:ingest_files, parameters: {dataset: orders}}\n"
        "  - {name: o-cdc, entrypoint: flows/capture_changes.py:capture_changes, parameters: {dataset: orders}}\n"
        "  - {name: sweep, entrypoint: flows/detect_crashes.py:detect_crashes}\n"
    )

    assert deployments(path) == {"orders": ["ingest-files/o-dev", "capture-changes/o-cdc"]}
    assert deployments(tmp_path / "missing.yaml") == {}
