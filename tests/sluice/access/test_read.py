"""read_dataset: masks and row filters applied before rows leave, the reader's --where over the masked view only."""

from __future__ import annotations

import hashlib

import pytest

from sluice.access.audit import AccessAction, read_audit
from sluice.access.read import read_dataset
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
