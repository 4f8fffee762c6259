"""Control-total manifests beside file drops: read when well-formed, refused clearly when not, never listed as data."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.errors import SourceError
from sluice.sources.control import read_manifest
from sluice.sources.files import list_source_files


def test_a_manifest_gives_rows_and_sums_and_ignores_the_producers_own_keys(tmp_path):
    data = tmp_path / "orders-2024.csv"
    data.write_text("order_id\n1\n")
    (tmp_path / "orders-2024.csv.manifest.json").write_text(
        json.dumps({"rows": 1000, "sums": {"amount": 12.5}, "exported_at": "2024-03-06"})
    )

    totals = read_manifest(str(data))

    assert totals is not None and (totals.rows, totals.sums) == (1000, {"amount": 12.5})
    assert totals.origin.endswith("orders-2024.csv.manifest.json")


def test_a_file_without_a_manifest_states_no_totals(tmp_path):
    assert read_manifest(str(tmp_path / "orders.csv")) is None


def test_manifests_are_not_listed_as_data(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "a.csv.manifest.json").write_text('{"rows": 1}')

    assert [f.uri.rsplit("/", 1)[-1] for f in list_source_files(str(tmp_path))] == ["a.csv"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.sampled_from([b"", b"[]", b"null", b'{"rows": -1}', b'{"rows": "1000"}', b'{"rows": 1.5}', b'{"sums": {}}']),
        st.builds(lambda v: json.dumps({"rows": 3, "sums": {"amount": v}}).encode(), st.text(max_size=5)),
    )
)
def test_a_manifest_that_is_not_valid_is_refused_with_its_name_and_the_expected_shape(tmp_path, body):
    (tmp_path / "o.csv.manifest.json").write_bytes(body)

    try:
        totals = read_manifest(str(tmp_path / "o.csv"))
    except SourceError as exc:
        assert "o.csv.manifest.json" in str(exc) and '"rows": 1000' in exc.hint
    else:
        assert totals is not None and totals.rows >= 0  # a few generated bodies are valid manifests


def test_an_oversized_manifest_is_refused(tmp_path):
    (tmp_path / "o.csv.manifest.json").write_text('{"rows": 1, "pad": "' + "x" * (1 << 20) + '"}')

    with pytest.raises(SourceError, match="larger than"):
        read_manifest(str(tmp_path / "o.csv"))
