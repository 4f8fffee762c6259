"""Policy files: the shipped ones load, a broken one is one line naming what is wrong, hostile YAML is refused."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.access.expr import Compare, Const, InList
from sluice.access.policy import Condition, load_policy, parse_policy
from sluice.errors import AccessDenied, PolicyError
from sluice.settings import AccessSettings
from tests.sluice.access.factories import principal

SHIPPED = AccessSettings().policies_root()


@pytest.mark.parametrize("dataset", ["customers", "orders"])
def test_the_shipped_policies_load_and_deny_a_reader_without_roles(dataset):
    loaded = load_policy(SHIPPED, dataset)

    assert loaded.policy.dataset == dataset and len(loaded.sha256) == 64
    with pytest.raises(AccessDenied, match=f"no rule of the {dataset} policy"):
        loaded.policy.rule_for(principal("nobody"))


def write(tmp_path: Path, text: str, name: str = "customers") -> Path:
    (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dataset: customers\nrules: [{name: a, masks: {email: scramble}}]", "rules.0.masks.email"),
        ("dataset: customers\nrules: [{name: a, rows: {column: country}}]", "needs exactly one test"),
        ("dataset: customers\nrules: [{name: a, rows: {column: country, equals: DE, in: [FR]}}]", "exactly one test"),
        ("dataset: customers\nrules: [{name: a, rows: {column: 'x; drop', equals: 1}}]", "rules.0.rows.column"),
        ("dataset: customers\nrules: [{name: a, when: {min_clearance: cosmic}}]", "min_clearance"),
        ("dataset: customers\nrules: [{name: a}, {name: a}]", "repeated: ['a']"),
        ("dataset: customers\nrules: [{name: a, grant: all}]", "grant"),
        ("dataset: orders\nrules: []", "is for dataset 'orders'"),
        ("dataset: customers\nrules: [{name: a\n", "not valid YAML at line"),
        ("- just a list", "not a mapping"),
    ],
)
def test_an_invalid_policy_is_one_line_naming_the_problem(tmp_path, text, message):
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text), "customers")
    assert message in caught.value.args[0] and "\n" not in caught.value.args[0]


def test_a_billion_laughs_policy_is_refused(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    with pytest.raises(PolicyError):
        load_policy(write(tmp_path, bomb + "dataset: customers\n"), "customers")


def test_an_attribute_the_principal_lacks_keeps_no_rows():
    condition = Condition.model_validate({"column": "country", "equals_attribute": "region"})

    assert condition.compile(principal("a", region="DE")) == Compare("country", "=", "DE")
    assert condition.compile(principal("b")) == Const(False)
    assert Condition.model_validate({"column": "s", "not_in": ["x"]}).compile(principal("c")) == InList(
        "s", ("x",), negated=True
    )


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_a_policy_or_a_policy_error(data):
    with contextlib.suppress(PolicyError):
        parse_policy(data, Path("customers.yaml"), "customers")
