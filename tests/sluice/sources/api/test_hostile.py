"""Whatever an API answers, the readers of its pages and headers give rows, quarantine entries or a clear error."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.errors import ConfigError
from sluice.sources.api.fetch import records_at
from sluice.sources.api.limits import ServerLimits, retry_after
from sluice.sources.api.sink import records_chunk
from sluice.sources.api.spec import Limits, load_api
from sluice.validate.contracts import Contract
from tests.sluice.sources.api.apifixtures import ACCOUNTS

CONTRACT = Contract.model_validate(ACCOUNTS)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
records = st.lists(
    st.one_of(json_values, st.fixed_dictionaries({"account_id": json_values, "updated_at": json_values})), max_size=30
)


@settings(max_examples=150, deadline=None)
@given(records)
def test_any_records_become_rows_or_malformed_entries_one_each(found: list[object]) -> None:
    chunk = records_chunk(found, CONTRACT)

    assert chunk.table.num_rows + len(chunk.malformed) == len(found)
    assert chunk.table.column_names == CONTRACT.column_names
    assert all(m.reason.value == "malformed_json" for m in chunk.malformed)


@settings(max_examples=150, deadline=None)
@given(json_values, st.sampled_from(["$[*]", "$.data.items", "$.data.items[*]", "$.results", "$..account_id"]))
def test_any_body_gives_a_list_of_records(body: object, path: str) -> None:
    assert isinstance(records_at(path, body), list)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_retry_after_is_a_wait_or_none(value: str) -> None:
    found = retry_after(value)

    assert found is None or found >= 0


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-limit"]), st.text(max_size=20)
    )
)
def test_any_rate_limit_headers_are_read_or_ignored(headers: dict[str, str]) -> None:
    limits = ServerLimits(Limits())

    limits.observe(headers)

    used = limits.quota.used_fraction
    assert used is None or used >= 0


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_any_description_file_loads_or_is_a_config_error(tmp_path_factory, raw: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("api")) / "any.yaml"
    path.write_bytes(raw)

    try:
        load_api(path)
    except ConfigError as exc:
        assert str(path) in str(exc)


def test_a_page_of_records_that_are_not_objects_keeps_each_as_its_json() -> None:
    chunk = records_chunk([{"account_id": "A1"}, [1, 2], "text"], CONTRACT)

    assert [json.loads(m.text) for m in chunk.malformed] == [[1, 2], "text"]
    assert list(chunk.rows) == [0]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30))
def test_a_used_up_quota_with_any_reset_waits_or_fails_clearly(reset: str, after: str) -> None:
    from sluice.errors import ApiQuotaExhausted

    limits = ServerLimits(Limits(max_wait_s=0), sleep=lambda _: None)
    limits.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})

    try:
        limits.before_request("crm")
        limits.throttle("crm", {"retry-after": after}, 0)
    except ApiQuotaExhausted as exc:
        assert "crm" in str(exc)
