"""read_dataset: masks and row filters applied before rows leave, the reader's --where over the masked view only."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.dataset as pads
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.access.audit import AccessAction, read_audit
from sluice.access.expr import And, Compare, InList, IsNull, Not, Or, render
from sluice.access.plan import plan_read
from sluice.access.policy import Rule
from sluice.access.read import read_dataset, run_plan
from sluice.errors import AccessDenied, QueryError
from tests.ops.factories import sluice_home
from tests.sluice.access.factories import lake_customers, principal


def test_an_analyst_reads_opted_in_rows_with_hashed_emails_and_no_names(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    raw = lake_customers(settings, tmp_path).to_pandas()

    got = read_dataset("customers", principal("ana", "analyst"), reason="churn study").to_pandas()

    expected = raw[raw["marketing_opt_in"].eq(True)]
    assert "full_name" not in got.columns and "_batch_id" not in got.columns
    assert sorted(got["email"]) == sorted(hashlib.sha256(e.encode()).hexdigest() for e in expected["email"])
    assert len(got) == len(expected) > 0
    [record] = read_audit(settings, action=AccessAction.READ)
    assert (record.subject, record.rows, record.reason, record.rule) == ("ana", len(got), "churn study", "analysts")


def test_a_where_on_a_masked_column_sees_only_the_masked_value(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    raw = lake_customers(settings, tmp_path).to_pandas()
    email = raw[raw["marketing_opt_in"].eq(True)]["email"].iloc[0]

    clear = read_dataset("customers", principal("ana", "analyst"), where=f"email = '{email}'")
    hashed = read_dataset(
        "customers", principal("ana", "analyst"), where=f"email = '{hashlib.sha256(email.encode()).hexdigest()}'"
    )

    assert clear.num_rows == 0 and hashed.num_rows == 1


def test_a_where_on_a_hidden_column_is_refused(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    lake_customers(settings, tmp_path)

    with pytest.raises(QueryError, match="'full_name' is not available"):
        read_dataset("customers", principal("ana", "analyst"), where="full_name LIKE 'A%'")
    with pytest.raises(QueryError, match="not available to you"):
        read_dataset("customers", principal("ana", "analyst"), columns=["full_name"])


def test_a_reader_no_rule_matches_is_denied_and_the_denial_is_audited(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    lake_customers(settings, tmp_path)

    with pytest.raises(AccessDenied, match="no rule of the customers policy"):
        read_dataset("customers", principal("eve", "intern"))

    [record] = read_audit(settings)
    assert (record.action, record.subject, record.rows) == (AccessAction.DENIED, "eve", None)


def test_a_dataset_without_a_policy_is_denied(monkeypatch, tmp_path):
    (tmp_path / "policies").mkdir()
    settings = sluice_home(monkeypatch, tmp_path, access_policies_dir=str(tmp_path / "policies"))
    lake_customers(settings, tmp_path)

    with pytest.raises(AccessDenied, match="has no access policy"):
        read_dataset("customers", principal("root", "privacy-officer", clearance="restricted"))


RULE = Rule.model_validate(
    {
        "name": "eu-only",
        "rows": {"column": "country", "in": ["DE", "FR"]},
        "masks": {"email": "hash", "secret": "hide"},
    }
)
SOURCE = pa.table(
    {
        "id": pa.array(range(8), pa.int64()),
        "country": ["DE", "FR", "CH", "US", "DE", None, "FR", "IT"],
        "email": [f"user{n}@x.example" for n in range(8)],
        "secret": [f"s{n}" for n in range(8)],
        "score": [1.5, None, 3.0, 4.0, 5.5, 6.0, -1.0, 0.0],
    }
)
ALLOWED_IDS = {0, 1, 4, 6}

texts = st.sampled_from(["DE", "CH", "US", "s1", "user3@x.example", "%x%", "' OR 1=1 --"])
typed = st.one_of(
    st.tuples(st.just("id"), st.integers(-3, 9)),
    st.tuples(st.sampled_from(["country", "email"]), texts),
    st.tuples(st.just("score"), st.floats(-2, 7, allow_nan=False)),
    st.tuples(st.just("secret"), texts),  # hidden: always refused
)
tests_ = st.one_of(
    st.builds(lambda cv, op: Compare(cv[0], op, cv[1]), typed, st.sampled_from(["=", "!=", "<", ">="])),
    st.builds(lambda c, v: Compare(c, "like", v), st.sampled_from(["country", "email"]), texts),
    st.builds(
        lambda c, v, n: InList(c, tuple(v), n),
        st.sampled_from(["country", "email"]),
        st.lists(texts, min_size=1, max_size=4),
        st.booleans(),
    ),
    st.builds(IsNull, st.sampled_from(["country", "score", "email"]), st.booleans()),
)
conditions = st.recursive(
    tests_,
    lambda inner: st.one_of(
        st.builds(lambda p: And(tuple(p)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda p: Or(tuple(p)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(Not, inner),
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(where=conditions)
def test_no_where_returns_a_row_or_column_the_policy_withholds(where):
    text = render(where)
    try:
        plan = plan_read(RULE, principal("p"), SOURCE.schema, where=text)
        got = run_plan(pads.dataset(SOURCE), plan)
    except QueryError as exc:
        assert "\n" not in exc.args[0]
        return
    assert "secret" not in got.column_names
    assert set(got["id"].to_pylist()) <= ALLOWED_IDS
    assert not set(got["email"].to_pylist()) & set(SOURCE["email"].to_pylist())
