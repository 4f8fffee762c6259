"""Dataset names and the paths built from them: refused with a clear error, or kept inside their root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sluice.errors import ConfigError
from sluice.lake.table import table_uri
from sluice.paths import (
    DATASET_NAME_HINT,
    child_path,
    child_uri,
    dataset_uri,
    ensure_dataset_name,
    ensure_segment,
    is_dataset_name,
)

HOSTILE = [
    "",
    ".",
    "..",
    "../c2/orders2",
    "/etc/passwd",
    "orders/../../x",
    "a\\b",
    "..\\x",
    "x\x00y",
    "Orders",
    "ORDERS",
    "\u043erders",
    "orders\u200b",
    "ｏrders",
    "1orders",
    "_orders",
    "orders-2",
    "orders.v2",
    "orders\n",
    " orders",
    "a" * 64,
    "a" * 1000,
    "C:\\lake",
    "~root",
    "orders%2f..",
    "s3://b/k",
]
valid_names = st.from_regex(r"\A[a-z][a-z0-9_]{0,62}\Z")
names = st.one_of(
    st.text(max_size=80),
    st.sampled_from(HOSTILE),
    valid_names,
    st.builds(lambda a, b: f"{a}/{b}", st.sampled_from(["..", ".", "", "x"]), valid_names),
)


@pytest.mark.parametrize("name", ["orders", "a", "web_events_v2", "a" * 63, "x_1_"])
def test_valid_names_are_accepted(name):
    assert ensure_dataset_name(name) == name


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_saying_what_a_valid_name_is(name):
    with pytest.raises(ConfigError) as caught:
        ensure_dataset_name(name)

    assert caught.value.hint == DATASET_NAME_HINT
    assert "\x00" not in str(caught.value) and len(str(caught.value).splitlines()[0]) < 200


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("a" * 64, "64 characters long"),
        ("../c2/orders2", "path separator"),
        ("Orders", "uppercase"),
        ("1orders", "does not start with a lowercase letter"),
        ("\u043erders", "'\\u043e'; only a-z, 0-9 and _"),
        ("orders\n", "'\\n'"),
    ],
)
def test_the_error_says_what_is_wrong(name, why):
    with pytest.raises(ConfigError, match="dataset name") as caught:
        ensure_dataset_name(name)
    assert why in str(caught.value)


def test_a_non_text_name_is_refused():
    with pytest.raises(ConfigError, match="must be text"):
        ensure_dataset_name(None)


def test_the_lake_refuses_a_name_that_leaves_it(tmp_path):
    with pytest.raises(ConfigError, match="path separator"):
        table_uri(str(tmp_path / "lake"), "../c2/orders2")
    assert table_uri(str(tmp_path / "lake") + "/", "orders") == f"{tmp_path}/lake/orders"


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names)
@example(name="../c2/orders2")
def test_any_name_is_refused_clearly_or_every_derived_path_stays_in_its_root(tmp_path, name):
    lake, staging, contracts = tmp_path / "lake", tmp_path / "staging", tmp_path / "contracts"
    try:
        accepted = ensure_dataset_name(name)
    except ConfigError as exc:
        assert exc.hint and str(exc).startswith(("dataset name", "the dataset name"))
        assert not is_dataset_name(name)
        with pytest.raises(ConfigError):
            dataset_uri(str(lake), name)
        with pytest.raises(ConfigError):
            dataset_uri("s3://bucket/lake", name)
        return
    local = Path(dataset_uri(str(lake), accepted))
    assert local.resolve().parent == lake.resolve()
    assert dataset_uri("s3://bucket/lake", accepted) == f"s3://bucket/lake/{accepted}"
    assert child_path(staging, accepted).resolve().parent == staging.resolve()
    quarantine = Path(child_uri(str(tmp_path / "quarantine"), f"dataset={accepted}"))
    assert quarantine.resolve().parent == (tmp_path / "quarantine").resolve()
    assert child_uri("s3://bucket/q", f"dataset={accepted}") == f"s3://bucket/q/dataset={accepted}"
    assert child_path(contracts, f"{accepted}.yaml").resolve().parent == contracts.resolve()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment=st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE)))
def test_any_segment_is_refused_or_stays_below_local_and_s3_roots(tmp_path, segment):
    try:
        local = child_path(tmp_path / "root", segment)
    except ConfigError:
        with pytest.raises(ConfigError):
            child_uri("s3://bucket/prefix", segment)
        return
    assert local.resolve().parent == (tmp_path / "root").resolve()
    uri = child_uri("s3://bucket/prefix", segment)
    key = uri.removeprefix("s3://bucket/")
    assert key == f"prefix/{segment}" and ".." not in key.split("/")


@pytest.mark.parametrize("segment", ["", ".", "..", "a/b", "a\\b", "a\x00b"])
def test_unusable_segments_are_refused(segment):
    with pytest.raises(ConfigError, match="path segment"):
        ensure_segment(segment)


@pytest.mark.parametrize(
    "root", ["s3://bucket/../other", "s3://bucket/a//b", "s3:///prefix", "s3://bucket/./x", "s3://bucket/a\\b"]
)
def test_object_store_roots_with_dot_segments_or_empty_parts_are_refused(root):
    with pytest.raises(ConfigError, match="not a clean"):
        child_uri(root, "orders")


def test_object_store_roots_are_normalised():
    assert child_uri("s3://bucket/lake/", "orders") == "s3://bucket/lake/orders"
    assert child_uri("s3://bucket", "orders") == "s3://bucket/orders"
    assert child_uri("s3://bucket/a/b", "orders", "dt=2024-01-01") == "s3://bucket/a/b/orders/dt=2024-01-01"


def test_a_symbolic_link_out_of_the_root_is_refused(tmp_path):
    root, outside = tmp_path / "lake", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "orders")

    with pytest.raises(ConfigError, match="leaves its root"):
        dataset_uri(str(root), "orders")


def test_a_file_uri_root_is_checked_like_a_local_path(tmp_path):
    assert dataset_uri(f"file://{tmp_path}/lake", "orders") == f"file://{tmp_path}/lake/orders"
    with pytest.raises(ConfigError):
        child_uri(f"file://{tmp_path}/lake", "..")
