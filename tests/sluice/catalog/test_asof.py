"""``--as-of``: the contracts and glossary of the newest commit at or before a date."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sluice.catalog.asof import metadata_as_of
from sluice.errors import ContractError
from tests.sluice.catalog.factories import GLOSSARY, committed_contracts, contract_yaml, policy_yaml

JAN = "2026-01-01T12:00:00+00:00"
FEB = "2026-02-01T12:00:00+00:00"


@pytest.fixture
def history(tmp_path):
    return committed_contracts(
        tmp_path,
        [
            (JAN, {"shop.yaml": contract_yaml("shop"), "glossary.yaml": GLOSSARY}),
            (FEB, {"shop.yaml": contract_yaml("shop", mode="upsert", version=2), "bad.yaml": "name: [unclosed"}),
        ],
    )


def test_a_date_between_two_commits_gets_the_earlier_contracts(history):
    then = metadata_as_of(history, datetime(2026, 1, 20, tzinfo=timezone.utc))

    shop = then.contract("shop")
    assert shop is not None and shop.version == 1 and str(shop.mode) == "append"
    assert then.committed_at.startswith("2026-01-01") and then.glossary.term("shop_id") is not None
    assert then.contract("bad") is None and not then.unreadable


def test_a_later_date_gets_the_later_contracts_and_lists_an_unreadable_one(history):
    then = metadata_as_of(history, datetime(2026, 3, 1))  # naive: read as UTC

    shop = then.contract("shop")
    assert shop is not None and shop.version == 2 and str(shop.mode) == "upsert"
    assert set(then.unreadable) == {"bad"} and "not valid YAML" in then.unreadable["bad"]


def test_a_date_before_the_history_is_a_clear_error_naming_where_it_starts(history):
    with pytest.raises(ContractError, match="no commit at or before") as raised:
        metadata_as_of(history, datetime(2025, 6, 1, tzinfo=timezone.utc))
    assert "2026-01-01" in str(raised.value)


def test_a_folder_outside_git_is_a_clear_error(tmp_path):
    with pytest.raises(ContractError, match="not in a git checkout"):
        metadata_as_of(tmp_path, datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_the_access_policy_of_that_date_comes_with_the_contracts(tmp_path):
    folder = committed_contracts(
        tmp_path,
        [
            (JAN, {"shop.yaml": contract_yaml("shop"), "policies/shop.yaml": policy_yaml("shop", "analyst")}),
            (FEB, {"policies/shop.yaml": policy_yaml("shop", "auditor")}),
            ("2026-03-01T12:00:00+00:00", {"policies/shop.yaml": "dataset: shop\nrules: [oops"}),
        ],
    )
    policies = folder.parent / "policies"

    jan = metadata_as_of(folder, datetime(2026, 1, 15, tzinfo=timezone.utc), policies)
    feb = metadata_as_of(folder, datetime(2026, 2, 15, tzinfo=timezone.utc), policies)
    mar = metadata_as_of(folder, datetime(2026, 3, 15, tzinfo=timezone.utc), policies)

    assert [r.name for r in jan.policies["shop"].rules] == ["analysts"]
    assert [r.name for r in feb.policies["shop"].rules] == ["auditors"]  # a policy-only commit counts too
    assert "shop" not in mar.policies and "not valid YAML" in mar.unreadable["policy shop"]
