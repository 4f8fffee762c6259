"""The policy test matrix: for each role and attribute set, exactly the rows and columns the shipped policy allows.

The expected result of each case is computed here with pandas over the raw
table, from the policy's rules written out by hand (not through the policy
code), with SQL's rule that a NULL neither equals nor differs from a value.
Every read, and every denial, is in the audit log afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from sluice.access.audit import AccessAction, read_audit
from sluice.access.principal import Principal
from sluice.access.read import read_dataset
from sluice.errors import AccessDenied
from tests.ops.factories import sluice_home
from tests.sluice.access.factories import lake_customers, principal

EU5 = ["DE", "FR", "NL", "IT", "ES"]
ALL = [
    "customer_id",
    "signup_date",
    "full_name",
    "email",
    "country",
    "segment",
    "marketing_opt_in",
    "lifetime_value",
    "updated_at",
    "dt",
]
ANALYST_COLUMNS = ["customer_id", "signup_date", "email", "country", "segment", "marketing_opt_in", "lifetime_value"]


def sha(value: object) -> object:
    return None if value is None or value is pd.NA else hashlib.sha256(str(value).encode()).hexdigest()


def partial(value: object, start: int) -> object:
    if value is None or value is pd.NA:
        return None
    text = str(value)
    return "*" * len(text) if len(text) <= start else text[:start] + "*" * (len(text) - start)


def everything(raw: pd.DataFrame, who: Principal) -> pd.DataFrame:
    return raw[ALL]


def crm_support(raw: pd.DataFrame, who: Principal) -> pd.DataFrame:
    eu_not_vip = raw["country"].isin(EU5) & raw["segment"].notna() & raw["segment"].ne("vip")
    own = raw["country"].eq(who.region) if who.region else pd.Series(False, index=raw.index)
    kept = raw[eu_not_vip | own][ALL].copy()
    kept["email"] = kept["email"].map(lambda v: partial(v, 2))
    kept["lifetime_value"] = None
    return kept


def analysts(raw: pd.DataFrame, who: Principal) -> pd.DataFrame:
    kept = raw[raw["marketing_opt_in"].eq(True).fillna(False).astype(bool)][ANALYST_COLUMNS].copy()
    kept["email"] = kept["email"].map(sha)
    kept["customer_id"] = kept["customer_id"].map(sha)
    return kept


@dataclass(frozen=True)
class Case:
    who: Principal
    expected: Callable[[pd.DataFrame, Principal], pd.DataFrame] | None  # None: denied


CASES = {
    "privacy officer with restricted clearance": Case(
        principal("po", "privacy-officer", clearance="restricted"), everything
    ),
    "privacy officer without enough clearance": Case(
        principal("po2", "privacy-officer", clearance="confidential"), None
    ),
    "crm support in customer care, region CH": Case(
        principal("cs1", "crm-support", department="customer-care", region="CH", clearance="internal"), crm_support
    ),
    "crm support in customer care, no region": Case(
        principal("cs2", "crm-support", department="customer-care", clearance="confidential"), crm_support
    ),
    "crm support in sales": Case(
        principal("cs3", "crm-support", department="sales", region="DE", clearance="internal"), None
    ),
    "analyst": Case(principal("an1", "analyst", department="marketing"), analysts),
    "data scientist also in crm support, public clearance": Case(
        principal("ds1", "data-scientist", "crm-support", department="customer-care", clearance="public"), analysts
    ),
    "no roles": Case(principal("nobody"), None),
}


def normalised(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    def value(v: object) -> object:
        if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
            return None
        if isinstance(v, pd.Timestamp):
            return v.tz_convert("UTC").value if v.tzinfo else v.value
        return v

    return sorted((tuple(value(v) for v in row) for row in frame.itertuples(index=False)), key=repr)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, pd.DataFrame]:
    monkeypatch = pytest.MonkeyPatch()
    tmp_path = tmp_path_factory.mktemp("matrix")
    settings = sluice_home(monkeypatch, tmp_path)
    raw = lake_customers(settings, tmp_path, rows=600).to_pandas()
    yield settings, raw
    monkeypatch.undo()


@pytest.mark.parametrize("case", list(CASES))
def test_each_reader_gets_exactly_the_rows_and_columns_the_policy_allows(lake, case):
    settings, raw = lake
    spec = CASES[case]

    if spec.expected is None:
        with pytest.raises(AccessDenied):
            read_dataset("customers", spec.who, reason=case, settings=settings)
        return
    got = read_dataset("customers", spec.who, reason=case, settings=settings).to_pandas()

    expected = spec.expected(raw, spec.who)
    assert list(got.columns) == list(expected.columns)
    assert len(got) > 0 and normalised(got) == normalised(expected)


def test_every_read_of_the_matrix_is_in_the_audit_log(lake):
    settings, raw = lake
    for case, spec in CASES.items():
        with contextlib.suppress(AccessDenied):
            read_dataset("customers", spec.who, reason=f"audit {case}", settings=settings)

    audited = {r.reason: r for r in read_audit(settings, dataset="customers") if (r.reason or "").startswith("audit ")}

    assert set(audited) == {f"audit {case}" for case in CASES}
    for case, spec in CASES.items():
        record = audited[f"audit {case}"]
        assert (record.subject, record.issuer) == (spec.who.subject, spec.who.issuer)
        if spec.expected is None:
            assert record.action is AccessAction.DENIED and record.rows is None
        else:
            assert record.action is AccessAction.READ and record.rows == len(spec.expected(raw, spec.who))
            assert list(record.columns) == list(spec.expected(raw, spec.who).columns)
